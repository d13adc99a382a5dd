package remote

// Dialing as v1.2.1 remote/connection.go:150-255 does it: retries, the unbounded handshake,
// and the three retried steps through a proxy.

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestDialRetriesRefusedConnection(t *testing.T) {
	port := closedPort(t)
	logs := captureLogs(t)
	c := &Connection{}
	c.Host, c.Port, c.User, c.DialErrorLimit, c.PerDialTimeout = ptr("127.0.0.1"), ptr(float64(port)), ptr("u"), ptr(3), ptr(1)
	start := time.Now()
	_, err := c.Dial(context.Background())
	want := "after 3 failed attempts: dial tcp 127.0.0.1:" + strconv.Itoa(port) + ": connect: connection refused"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if !logs.has("Dial 1/3 failed: retrying") || !logs.has("Dial 3/3 failed: retrying") || logs.has("Dial 4/3 failed: retrying") {
		t.Fatalf("retry log lines: %v", logs.msgs)
	}
	// backoff 100 + 150 + 225 ms between the four attempts
	if d := time.Since(start); d < 400*time.Millisecond || d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestDialUnlimitedLogsInf(t *testing.T) {
	port := closedPort(t)
	logs := captureLogs(t)
	c := &Connection{}
	c.Host, c.Port, c.User, c.DialErrorLimit, c.PerDialTimeout = ptr("127.0.0.1"), ptr(float64(port)), ptr("u"), ptr(-1), ptr(1)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := c.Dial(ctx)
	if err != context.DeadlineExceeded {
		t.Fatalf("err = %v, want the context's error", err)
	}
	if !logs.has("Dial 1/inf failed: retrying") {
		t.Fatalf("retry log lines: %v", logs.msgs)
	}
}

// perDialTimeout is x/crypto's ClientConfig.Timeout, which bounds the TCP connect only: a host
// that accepts the connection and never answers the SSH handshake (a frozen sshd) hangs the
// dial for ever, whatever perDialTimeout and dialErrorLimit say, and a cancelled context does
// not end it either (retry.Until looks at it only between attempts). Here the dial returns
// only once the test closes the held connection.
func TestDialHandshakeNeverAnsweredHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accept, then never say anything
			mu.Unlock()
		}
	}()
	c := &Connection{}
	c.Host, c.Port, c.User = ptr("127.0.0.1"), ptr(float64(l.Addr().(*net.TCPAddr).Port)), ptr("u")
	c.DialErrorLimit, c.PerDialTimeout = ptr(0), ptr(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Dial(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("dial returned (%v) within 4 s (perDialTimeout 1 s, context 1 s); v1.2.1's never does", err)
	case <-time.After(4 * time.Second):
	}
	mu.Lock()
	if len(held) != 1 {
		t.Fatalf("%d connections, want 1 (no retry while the handshake hangs)", len(held))
	}
	held[0].Close()
	mu.Unlock()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "after 0 failed attempts: ssh: handshake failed: ") {
			t.Fatalf("after the server hung up: err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dial still hangs after the server closed the connection")
	}
}

// proxyConn: a connection to target through bastion, both test servers.
func proxyConn(bastion, target *testSSHServer) *Connection {
	c := target.conn()
	proxy := &ProxyConnection{}
	b := bastion.conn()
	proxy.sshEndpoint = b.sshEndpoint
	c.Proxy = proxy
	return c
}

func TestProxyDialThroughBastion(t *testing.T) {
	bastion, target := startSSHServer(t), startSSHServer(t)
	c := proxyConn(bastion, target)
	c.HostKey = ptr(strings.TrimSpace(target.HostKey))
	c.Proxy.HostKey = ptr(strings.TrimSpace(bastion.HostKey))
	out, err := create(t, CommandInputs{Connection: c, ResourceInputs: ri{Create: ptr("echo via")}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "via" || bastion.Tunnels.Load() != 1 || target.Conns.Load() != 1 {
		t.Fatalf("stdout %q, tunnels %d, target connections %d", out.Stdout, bastion.Tunnels.Load(), target.Conns.Load())
	}
}

// The bastion itself is retried as "Dial proxy" with the proxy's own dialErrorLimit.
func TestProxyBastionRetriedWithItsOwnLimit(t *testing.T) {
	target := startSSHServer(t)
	port := closedPort(t)
	logs := captureLogs(t)
	c := target.conn()
	c.Proxy = &ProxyConnection{}
	c.Proxy.Host, c.Proxy.Port, c.Proxy.User, c.Proxy.PerDialTimeout = ptr("127.0.0.1"), ptr(float64(port)), ptr("u"), ptr(1)
	c.Proxy.DialErrorLimit = ptr(1)
	_, err := c.Dial(context.Background())
	want := "proxy: after 1 failed attempts: dial tcp 127.0.0.1:" + strconv.Itoa(port) + ": connect: connection refused"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if !logs.has("Dial proxy 1/1 failed: retrying") || logs.has("Dial proxy 2/1 failed: retrying") {
		t.Fatalf("retry log lines: %v", logs.msgs)
	}
}

// The bastion's TCP connection to the host is retried as "Dial from proxy".
func TestProxyTunnelRetriedAsDialFromProxy(t *testing.T) {
	bastion := startSSHServer(t)
	logs := captureLogs(t)
	c := bastion.conn() // the target: a closed port, reached through the bastion
	port := closedPort(t)
	c.Port = ptr(float64(port))
	c.DialErrorLimit = ptr(1)
	c.Proxy = &ProxyConnection{sshEndpoint: bastion.conn().sshEndpoint}
	_, err := c.Dial(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "proxy: after 1 failed attempts: ssh: rejected: connect failed (") {
		t.Fatalf("err = %v", err)
	}
	if !logs.has("Dial from proxy 1/1 failed: retrying") {
		t.Fatalf("retry log lines: %v", logs.msgs)
	}
}

// The handshake with the host is retried over the one tunnel the failed handshake closed: a
// wrong host key fails the first handshake, the retries fail on the dead connection, and the
// host sees one TCP connection only.
func TestProxyHandshakeRetriedOnTheSameConnection(t *testing.T) {
	bastion, target := startSSHServer(t), startSSHServer(t)
	logs := captureLogs(t)
	c := proxyConn(bastion, target)
	c.HostKey = ptr(strings.TrimSpace(string(marshalAuthorized(newHostSigner(t, "ed25519")))))
	c.DialErrorLimit = ptr(2)
	_, err := c.Dial(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "proxy: after 2 failed attempts: ssh: handshake failed: ") ||
		strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("err = %v (want the last retry's failure on the closed tunnel, not the first's host key mismatch)", err)
	}
	if !logs.has("Dial 1/2 failed: retrying") || !logs.has("Dial 2/2 failed: retrying") {
		t.Fatalf("retry log lines: %v", logs.msgs)
	}
	if n := target.Conns.Load(); n != 1 {
		t.Fatalf("target saw %d TCP connections, want 1", n)
	}
	if n := bastion.Tunnels.Load(); n != 1 {
		t.Fatalf("bastion opened %d tunnels, want 1", n)
	}
}
