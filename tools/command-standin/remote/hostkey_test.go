package remote

// connection.hostKey as v1.2.1 uses it (remote/connection.go:85-105): the pinned key is the
// only one accepted (ssh.FixedHostKey) and the only host key algorithm offered is the pinned
// key's type (ClientConfig.HostKeyAlgorithms).

import (
	"strings"
	"testing"
)

// A Debian host has rsa, ecdsa and ed25519 host keys; pinned by its ed25519 key, the client
// must ask for that one. Without the algorithm restriction x/crypto prefers rsa-sha2-256, gets
// the rsa key and fails the pin.
func TestHostKeyPinnedEd25519AmongThreeHostKeys(t *testing.T) {
	s := startSSHServerWithHostKeys(t, "rsa", "ecdsa", "ed25519")
	for _, kind := range []string{"ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"} {
		if s.HostKeys[kind] == "" {
			t.Fatalf("test server lacks a %s host key: %v", kind, s.HostKeys)
		}
	}
	c := s.conn()
	c.HostKey = ptr(strings.TrimSpace(s.HostKeys["ssh-ed25519"]))
	c.DialErrorLimit = ptr(0)
	out, err := create(t, CommandInputs{Connection: c, ResourceInputs: ri{Create: ptr("echo in")}})
	if err != nil {
		t.Fatalf("pinned by ed25519 on a host with rsa, ecdsa and ed25519 keys: %v", err)
	}
	if out.Stdout != "in" {
		t.Fatalf("stdout = %q", out.Stdout)
	}
}

// Each pinned type is negotiated on the three-key host, ecdsa too.
func TestHostKeyPinnedEcdsaAmongThreeHostKeys(t *testing.T) {
	s := startSSHServerWithHostKeys(t, "rsa", "ecdsa", "ed25519")
	c := s.conn()
	c.HostKey = ptr(strings.TrimSpace(s.HostKeys["ecdsa-sha2-nistp256"]))
	c.DialErrorLimit = ptr(0)
	if _, err := create(t, CommandInputs{Connection: c, ResourceInputs: ri{Create: ptr("true")}}); err != nil {
		t.Fatalf("pinned by ecdsa: %v", err)
	}
}

// Pinned by a type the host does not have: no common host key algorithm, before authentication.
func TestHostKeyPinnedTypeTheHostLacksFailsBeforeAuth(t *testing.T) {
	s := startSSHServerWithHostKeys(t, "ecdsa")
	other := newHostSigner(t, "ed25519")
	c := s.conn()
	c.HostKey = ptr(strings.TrimSpace(string(marshalAuthorized(other))))
	c.DialErrorLimit = ptr(0)
	_, err := create(t, CommandInputs{Connection: c, ResourceInputs: ri{Create: ptr("true")}})
	want := "after 0 failed attempts: ssh: handshake failed: ssh: no common algorithm for host key; " +
		"we offered: [ssh-ed25519], peer offered: [ecdsa-sha2-nistp256]"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if n := s.AuthAttempts.Load(); n != 0 {
		t.Fatalf("%d authentication attempts, want 0", n)
	}
}

// The algorithm list is the pinned key's type, so an ssh-rsa pin offers only SHA-1 "ssh-rsa"
// signatures (which OpenSSH 8.8+ and so Debian 12's sshd refuse); no pin: x/crypto's defaults.
func TestHostKeyAlgorithmsAreThePinnedKeysType(t *testing.T) {
	for kind, want := range map[string]string{"rsa": "ssh-rsa", "ecdsa": "ecdsa-sha2-nistp256", "ed25519": "ssh-ed25519"} {
		c := &Connection{}
		c.User, c.PerDialTimeout = ptr("u"), ptr(1)
		c.HostKey = ptr(strings.TrimSpace(string(marshalAuthorized(newHostSigner(t, kind)))))
		cfg, err := c.SSHConfig()
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.HostKeyAlgorithms) != 1 || cfg.HostKeyAlgorithms[0] != want {
			t.Fatalf("%s pin: HostKeyAlgorithms = %v, want [%s]", kind, cfg.HostKeyAlgorithms, want)
		}
	}
	c := &Connection{}
	c.User, c.PerDialTimeout = ptr("u"), ptr(1)
	cfg, err := c.SSHConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HostKeyAlgorithms != nil {
		t.Fatalf("no pin: HostKeyAlgorithms = %v, want nil (x/crypto's defaults)", cfg.HostKeyAlgorithms)
	}
}

func TestHostKeyUnparsableIsAnError(t *testing.T) {
	c := &Connection{}
	c.User, c.PerDialTimeout = ptr("u"), ptr(1)
	c.HostKey = ptr("not a key")
	_, err := c.SSHConfig()
	if err == nil || !strings.HasPrefix(err.Error(), "failed to parse host key: ssh: no key found") {
		t.Fatalf("err = %v", err)
	}
}
