// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.
// Written from a reading of the released provider's behaviour (see README.md); not its code.
// Each function names the v1.2.1 lines (provider/pkg/provider/remote/connection.go) it follows.

package remote

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	defaultDialErrorLimit = 10
	unlimitedDials        = -1
	defaultPerDialTimeout = 15
)

// sshEndpoint holds the fields shared by the target host and the bastion host
// (v1.2.1 connection.go:41-52: password, privateKey and privateKeyPassword are secret).
type sshEndpoint struct {
	User               *string  `pulumi:"user,optional"`
	Password           *string  `pulumi:"password,optional" provider:"secret"`
	Host               *string  `pulumi:"host"`
	Port               *float64 `pulumi:"port,optional"`
	PrivateKey         *string  `pulumi:"privateKey,optional" provider:"secret"`
	PrivateKeyPassword *string  `pulumi:"privateKeyPassword,optional" provider:"secret"`
	AgentSocketPath    *string  `pulumi:"agentSocketPath,optional"`
	DialErrorLimit     *int     `pulumi:"dialErrorLimit,optional"`
	PerDialTimeout     *int     `pulumi:"perDialTimeout,optional"`
	HostKey            *string  `pulumi:"hostKey,optional"`
}

// Connection says how to reach the remote host (schema type command:remote:Connection).
type Connection struct {
	sshEndpoint
	Proxy *ProxyConnection `pulumi:"proxy,optional"`
}

// ProxyConnection says how to reach the bastion host (schema type command:remote:ProxyConnection).
type ProxyConnection struct {
	sshEndpoint
}

// describeEndpoint: descriptions and defaults (user root, port 22, dialErrorLimit 10,
// perDialTimeout 15) as v1.2.1 connection.go:54-83 and proxyConnection.go:23-51 set them.
func describeEndpoint(a infer.Annotator, e *sshEndpoint, bastion bool) {
	to, host, port := "", "The address of the resource to connect to.", "The port to connect to. Defaults to 22."
	if bastion {
		to, host, port = " to the bastion host", "The address of the bastion host to connect to.",
			"The port of the bastion host to connect to."
	}
	a.Describe(&e.User, "The user that we should use for the connection"+to+".")
	a.SetDefault(&e.User, "root")
	a.Describe(&e.Password, "The password we should use for the connection"+to+".")
	a.Describe(&e.Host, host)
	a.Describe(&e.Port, port)
	a.SetDefault(&e.Port, 22)
	a.Describe(&e.PrivateKey, "The contents of an SSH key to use for the connection. This takes preference over the password if provided.")
	a.Describe(&e.PrivateKeyPassword, "The password to use in case the private key is encrypted.")
	a.Describe(&e.AgentSocketPath, "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present.")
	a.Describe(&e.DialErrorLimit, "Max allowed errors on trying to dial the remote host. -1 set count to unlimited. Default value is 10.")
	a.SetDefault(&e.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&e.PerDialTimeout, "Max number of seconds for each dial attempt. 0 implies no maximum. Default value is 15 seconds.")
	a.SetDefault(&e.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&e.HostKey, "The expected host key to verify the server's identity. If not provided, the host key will be ignored.")
}

func (c *Connection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint.")
	describeEndpoint(a, &c.sshEndpoint, false)
	a.Describe(&c.Proxy, "The connection settings for the bastion/proxy host.")
}

func (c *ProxyConnection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint via a bastion host.")
	describeEndpoint(a, &c.sshEndpoint, true)
}

// address is host:port. Like v1.2.1 (connection.go:196, 213) it reads host and port without a
// nil check: Check has made host required and given port its default.
func (e *sshEndpoint) address() string {
	return net.JoinHostPort(*e.Host, strconv.Itoa(int(*e.Port)))
}

// dialLimit: dialErrorLimit, 10 when unset (v1.2.1 connection.go:245-250).
func (e *sshEndpoint) dialLimit() int {
	if e.DialErrorLimit == nil {
		return defaultDialErrorLimit
	}
	return *e.DialErrorLimit
}

// SSHConfig builds the client configuration as v1.2.1 connection.go:85-148 does:
//   - hostKey set: only that key is accepted (ssh.FixedHostKey) and the only host key
//     algorithm offered is its type (an ssh-rsa pin offers only SHA-1 "ssh-rsa");
//     unset: any host key is accepted;
//   - user and perDialTimeout are read without a nil check (Check gave them defaults);
//     perDialTimeout becomes ClientConfig.Timeout, which x/crypto applies to the TCP
//     connect only — the SSH handshake after it has no bound;
//   - auth: the private key (with its passphrase), then the password and keyboard-interactive
//     answering every question with it, then the agent (agentSocketPath, else SSH_AUTH_SOCK).
func (e *sshEndpoint) SSHConfig() (*ssh.ClientConfig, error) {
	hostKeyCallback := ssh.InsecureIgnoreHostKey()
	var hostKeyAlgorithms []string
	if e.HostKey != nil {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*e.HostKey))
		if err != nil {
			return nil, fmt.Errorf("failed to parse host key: %w", err)
		}
		hostKeyCallback = ssh.FixedHostKey(key)
		hostKeyAlgorithms = []string{key.Type()}
	}
	cfg := &ssh.ClientConfig{
		User:              *e.User,
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: hostKeyAlgorithms,
		Timeout:           time.Duration(*e.PerDialTimeout) * time.Second,
	}
	if e.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if e.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*e.PrivateKey), []byte(*e.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*e.PrivateKey))
		}
		if err != nil {
			return nil, err
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if e.Password != nil {
		pw := *e.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	socket := os.Getenv("SSH_AUTH_SOCK")
	if e.AgentSocketPath != nil {
		socket = *e.AgentSocketPath
	}
	// v1.2.1 connection_unix.go:12-17: an empty SSH_AUTH_SOCK means no agent; an empty
	// agentSocketPath is still dialled (and fails).
	if e.AgentSocketPath != nil || socket != "" {
		conn, err := net.Dial("unix", socket)
		if err != nil {
			return nil, err
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return cfg, nil
}

// retryDial calls attempt until it succeeds or the limit is passed (v1.2.1 connection.go:150-187,
// 252-255): attempt n+1 fails with dialErrorLimit n → "after n failed attempts: <err>" (n, though
// n+1 attempts failed); -1 is no limit; each earlier failure logs "<what> i/<limit|inf> failed:
// retrying" as an info status; the SDK's retry.Until backs off 100 ms × 1.5ⁿ up to 5 s. A
// cancelled context ends it with the context's error, but only between attempts: an attempt
// that hangs is never interrupted.
func retryDial[T any](ctx context.Context, what string, limit int, attempt func() (T, error)) (T, error) {
	ok, value, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			v, err := attempt()
			if err == nil {
				return true, v, nil
			}
			dials := try + 1
			if limit > unlimitedDials && dials > limit {
				return true, nil, fmt.Errorf("after %d failed attempts: %w", try, err)
			}
			shown := "inf"
			if limit != unlimitedDials {
				shown = strconv.Itoa(limit)
			}
			p.GetLogger(ctx).InfoStatusf("%s %d/%s failed: retrying", what, dials, shown)
			return false, nil, nil
		},
	})
	if ok && err == nil {
		return value.(T), nil
	}
	var zero T
	if err == nil {
		err = ctx.Err()
	}
	return zero, err
}

// Dial connects to the host as v1.2.1 connection.go:189-243 does. Without a proxy: ssh.Dial,
// retried per dialErrorLimit ("Dial"). With a proxy, three retried steps, each with its own
// count: the bastion ("Dial proxy", the proxy's dialErrorLimit), a TCP connection from the
// bastion to the host ("Dial from proxy"), then the SSH handshake over that one connection
// ("Dial"; a retry reuses the connection the failed handshake closed, so it fails again). Every
// error through a proxy is prefixed "proxy: ". The bastion client is never closed.
func (c *Connection) Dial(ctx context.Context) (*ssh.Client, error) {
	cfg, err := c.SSHConfig()
	if err != nil {
		return nil, err
	}
	endpoint := c.address()
	tries := c.dialLimit()
	if c.Proxy == nil {
		return retryDial(ctx, "Dial", tries, func() (*ssh.Client, error) {
			return ssh.Dial("tcp", endpoint, cfg)
		})
	}
	proxyCfg, err := c.Proxy.SSHConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	bastion, err := retryDial(ctx, "Dial proxy", c.Proxy.dialLimit(), func() (*ssh.Client, error) {
		return ssh.Dial("tcp", c.Proxy.address(), proxyCfg)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	conn, err := retryDial(ctx, "Dial from proxy", tries, func() (net.Conn, error) {
		return bastion.Dial("tcp", endpoint)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	type handshake struct {
		conn  ssh.Conn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
	}
	h, err := retryDial(ctx, "Dial", tries, func() (handshake, error) {
		sc, chans, reqs, err := ssh.NewClientConn(conn, endpoint, cfg)
		return handshake{sc, chans, reqs}, err
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return ssh.NewClient(h.conn, h.chans, h.reqs), nil
}
