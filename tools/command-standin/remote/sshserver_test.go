package remote

// An in-process SSH + SFTP server on 127.0.0.1 for the tests: public-key auth with one
// client key, "env" and "exec" (run with sh -c), the "sftp" subsystem and "direct-tcpip"
// channels (so it can be a bastion), with one host key of each type asked for.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

type testSSHServer struct {
	Port int
	// HostKey is the first host key, HostKeys all of them by type ("ssh-ed25519", …), in
	// authorized_keys form, as connection.hostKey takes them.
	HostKey       string
	HostKeys      map[string]string
	ClientKeyPEM  string
	AuthAttempts  atomic.Int32
	Conns         atomic.Int32 // TCP connections accepted
	Open          atomic.Int32 // SSH connections not yet closed by the client
	Tunnels       atomic.Int32 // direct-tcpip channels opened
	mu            sync.Mutex
	LastEnv       map[string]string
	RejectEnvKeys map[string]bool
	listener      net.Listener
}

func newKeyPair(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, string(pem.EncodeToMemory(block))
}

// newHostSigner makes a host key of one type: "ed25519", "ecdsa" (P-256) or "rsa" (3072 bits).
func newHostSigner(t *testing.T, kind string) ssh.Signer {
	t.Helper()
	var key any
	var err error
	switch kind {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		t.Fatalf("unknown host key type %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// startSSHServer starts a server with one ed25519 host key.
func startSSHServer(t *testing.T) *testSSHServer {
	t.Helper()
	return startSSHServerWithHostKeys(t, "ed25519")
}

// startSSHServerWithHostKeys starts a server with one host key of each type given, in that order.
func startSSHServerWithHostKeys(t *testing.T, kinds ...string) *testSSHServer {
	t.Helper()
	clientSigner, clientPEM := newKeyPair(t)
	s := &testSSHServer{ClientKeyPEM: clientPEM, HostKeys: map[string]string{}}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.AuthAttempts.Add(1)
			if string(key.Marshal()) == string(clientSigner.PublicKey().Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	for _, kind := range kinds {
		signer := newHostSigner(t, kind)
		cfg.AddHostKey(signer)
		line := string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
		s.HostKeys[signer.PublicKey().Type()] = line
		if s.HostKey == "" {
			s.HostKey = line
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.listener = l
	s.Port = l.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.Conns.Add(1)
			go s.serveConn(c, cfg)
		}
	}()
	return s
}

func (s *testSSHServer) serveConn(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	s.Open.Add(1)
	defer s.Open.Add(-1)
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() == "direct-tcpip" {
			go s.serveTunnel(nc)
			continue
		}
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions and direct-tcpip")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.serveSession(ch, creqs)
	}
}

// serveTunnel connects a direct-tcpip channel (RFC 4254 7.2) to its target, as a bastion does.
func (s *testSSHServer) serveTunnel(nc ssh.NewChannel) {
	var target struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &target); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request")
		return
	}
	conn, err := net.Dial("tcp", net.JoinHostPort(target.Host, strconv.Itoa(int(target.Port))))
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		conn.Close()
		return
	}
	s.Tunnels.Add(1)
	go ssh.DiscardRequests(reqs)
	go func() {
		_, _ = io.Copy(conn, ch)
		conn.Close()
	}()
	_, _ = io.Copy(ch, conn)
	ch.Close()
}

func sshString(b []byte) (string, []byte) {
	if len(b) < 4 {
		return "", nil
	}
	n := binary.BigEndian.Uint32(b)
	if int(n) > len(b)-4 {
		return "", nil
	}
	return string(b[4 : 4+n]), b[4+n:]
}

func (s *testSSHServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	env := map[string]string{}
	for req := range reqs {
		switch req.Type {
		case "env":
			k, rest := sshString(req.Payload)
			v, _ := sshString(rest)
			ok := !s.RejectEnvKeys[k]
			if ok {
				env[k] = v
			}
			_ = req.Reply(ok, nil)
		case "exec":
			cmdline, _ := sshString(req.Payload)
			_ = req.Reply(true, nil)
			s.mu.Lock()
			s.LastEnv = env
			s.mu.Unlock()
			cmd := exec.Command("sh", "-c", cmdline)
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			cmd.Env = append(cmd.Env, "PATH=/usr/bin:/bin")
			cmd.Stdin = ch
			cmd.Stdout = ch
			cmd.Stderr = ch.Stderr()
			status := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
						status = ws.ExitStatus()
					} else {
						status = 1
					}
				} else {
					status = 127
				}
			}
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
			return
		case "subsystem":
			name, _ := sshString(req.Payload)
			if name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			srv, err := sftp.NewServer(ch)
			if err != nil {
				return
			}
			_ = srv.Serve()
			return
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// sftpClient dials the server directly, for tests of the copy rules.
func (s *testSSHServer) sftpClient(t *testing.T) *sftp.Client {
	t.Helper()
	signer, err := ssh.ParsePrivateKey([]byte(s.ClientKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), &ssh.ClientConfig{
		User: "test", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close(); c.Close() })
	return sc
}

func marshalAuthorized(s ssh.Signer) []byte { return ssh.MarshalAuthorizedKey(s.PublicKey()) }
