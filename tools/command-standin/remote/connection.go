// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.
// Written from a reading of the released provider's behaviour (see README.md); not its code.

package remote

import (
	"context"
	"errors"
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

// sshEndpoint holds the fields shared by the target host and the bastion host.
type sshEndpoint struct {
	User               *string  `pulumi:"user,optional"`
	Password           *string  `pulumi:"password,optional"`
	Host               *string  `pulumi:"host"`
	Port               *float64 `pulumi:"port,optional"`
	PrivateKey         *string  `pulumi:"privateKey,optional"`
	PrivateKeyPassword *string  `pulumi:"privateKeyPassword,optional"`
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

func describeEndpoint(a infer.Annotator, e *sshEndpoint, what string) {
	a.Describe(&e.User, "The user that we should use for the connection"+what+".")
	a.SetDefault(&e.User, "root")
	a.Describe(&e.Password, "The password we should use for the connection"+what+".")
	a.Describe(&e.Host, "The address of the "+map[bool]string{true: "resource", false: "bastion host"}[what == ""]+" to connect to.")
	a.Describe(&e.Port, "The port to connect to. Defaults to 22.")
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
	describeEndpoint(a, &c.sshEndpoint, "")
	a.Describe(&c.Proxy, "The connection settings for the bastion/proxy host.")
}

func (c *ProxyConnection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint via a bastion host.")
	describeEndpoint(a, &c.sshEndpoint, " to the bastion host")
}

func (e *sshEndpoint) user() string {
	if e.User == nil {
		return "root"
	}
	return *e.User
}

func (e *sshEndpoint) port() int {
	if e.Port == nil {
		return 22
	}
	return int(*e.Port)
}

func (e *sshEndpoint) host() string {
	if e.Host == nil {
		return ""
	}
	return *e.Host
}

func (e *sshEndpoint) address() string {
	return net.JoinHostPort(e.host(), strconv.Itoa(e.port()))
}

func (e *sshEndpoint) dialLimit() int {
	if e.DialErrorLimit == nil {
		return defaultDialErrorLimit
	}
	return *e.DialErrorLimit
}

func (e *sshEndpoint) perDial() time.Duration {
	if e.PerDialTimeout == nil {
		return defaultPerDialTimeout * time.Second
	}
	return time.Duration(*e.PerDialTimeout) * time.Second
}

// hostKeyCallback: with hostKey set, exactly that key is accepted; without it any key is
// accepted (the released provider ignores the host key when hostKey is unset).
func (e *sshEndpoint) hostKeyCallback() (ssh.HostKeyCallback, error) {
	if e.HostKey == nil || *e.HostKey == "" {
		return ssh.InsecureIgnoreHostKey(), nil
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*e.HostKey))
	if err != nil {
		return nil, fmt.Errorf("failed to parse host key %q: %w", *e.HostKey, err)
	}
	return ssh.FixedHostKey(key), nil
}

// clientConfig builds the SSH client configuration: private key first, then password
// (and keyboard-interactive answering every question with it), then the SSH agent.
func (e *sshEndpoint) clientConfig() (*ssh.ClientConfig, error) {
	hostKeyCallback, err := e.hostKeyCallback()
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:            e.user(),
		HostKeyCallback: hostKeyCallback,
		Timeout:         e.perDial(),
	}
	if e.PrivateKey != nil {
		var signer ssh.Signer
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
	socket := ""
	if e.AgentSocketPath != nil {
		socket = *e.AgentSocketPath
	} else {
		socket = os.Getenv("SSH_AUTH_SOCK")
	}
	if socket != "" {
		conn, err := net.Dial("unix", socket)
		if err != nil {
			return nil, err
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return cfg, nil
}

// handshake runs the SSH handshake over conn. Deviation from the released provider
// (documented in README.md): the handshake is bounded by perDialTimeout as well, where
// x/crypto's ClientConfig.Timeout alone only bounds the TCP connect.
func handshake(conn net.Conn, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	if cfg.Timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func dialDirect(addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return handshake(conn, addr, cfg)
}

// retryDial calls attempt until it succeeds or limit attempts have failed (limit -1: no
// limit), backing off between attempts as the SDK's retry.Until does by default.
func retryDial[T any](ctx context.Context, what string, limit int, attempt func() (T, error)) (T, error) {
	var zero T
	ok, value, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			v, err := attempt()
			if err == nil {
				return true, v, nil
			}
			dials := try + 1
			if limit > unlimitedDials && dials > limit {
				return false, nil, fmt.Errorf("after %d failed attempts: %w", try, err)
			}
			shown := "inf"
			if limit != unlimitedDials {
				shown = strconv.Itoa(limit)
			}
			p.GetLogger(ctx).InfoStatusf("%s %d/%s failed: retrying", what, dials, shown)
			return false, nil, nil
		},
	})
	if err != nil {
		return zero, err
	}
	if !ok {
		// retry.Until gives up without an error only when ctx is done.
		return zero, ctx.Err()
	}
	return value.(T), nil
}

// Dial connects to the host, through the bastion when proxy is set, retrying per dialErrorLimit.
func (c *Connection) Dial(ctx context.Context) (*ssh.Client, error) {
	if c == nil {
		return nil, errors.New("connection is required")
	}
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	addr := c.address()
	if c.Proxy == nil {
		return retryDial(ctx, "Dial", c.dialLimit(), func() (*ssh.Client, error) {
			return dialDirect(addr, cfg)
		})
	}
	proxyCfg, err := c.Proxy.clientConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxyAddr := c.Proxy.address()
	bastion, err := retryDial(ctx, "Dial proxy", c.Proxy.dialLimit(), func() (*ssh.Client, error) {
		return dialDirect(proxyAddr, proxyCfg)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	client, err := retryDial(ctx, "Dial", c.dialLimit(), func() (*ssh.Client, error) {
		conn, err := bastion.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return handshake(conn, addr, cfg)
	})
	if err != nil {
		bastion.Close()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return client, nil
}
