package remote

// How v1.2.1 handles a command's output and its SSH client (remote/commandOutputs.go:30-108,
// util/util.go:32-53).

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func mustPathAsset(t *testing.T, path string) *resource.Asset {
	t.Helper()
	a, err := resource.NewPathAsset(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// createAsync starts a Create and returns its error on the channel when (if) it returns.
func createAsync(in CommandInputs) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := (&Command{}).Create(context.Background(), infer.CreateRequest[CommandInputs]{Name: "cmd", Inputs: in})
		done <- err
	}()
	return done
}

func lineOf(n int) string { return "head -c " + strconv.Itoa(n) + " /dev/zero | tr '\\0' x; echo" }

// A logged line of 64 KiB or more stops the log reader (bufio.Scanner's default limit) while
// the command's output still goes into the pipe: the write blocks and Create never returns.
// Lines up to 65,535 bytes are fine, and so is any line that is not logged.
func TestLongLoggedLineNeverReturns(t *testing.T) {
	s := startSSHServer(t)
	out, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr(lineOf(65535))}})
	if err != nil || len(out.Stdout) != 65535 {
		t.Fatalf("a 65,535-byte line: err %v, %d bytes", err, len(out.Stdout))
	}
	for _, tc := range []struct {
		name    string
		logging *Logging
		cmd     string
	}{
		{"stdout, logging unset", nil, lineOf(65536)},
		{"stdout, logging stdout", ptr(LogStdout), lineOf(65536)},
		{"stderr, logging stderr", ptr(LogStderr), "(" + lineOf(70000) + ") >&2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := createAsync(CommandInputs{Connection: s.conn(), Logging: tc.logging, ResourceInputs: ri{Create: ptr(tc.cmd)}})
			select {
			case err := <-done:
				t.Fatalf("returned (err %v); v1.2.1 never returns after a line over 64 KiB", err)
			case <-time.After(3 * time.Second):
			}
		})
	}
	for _, tc := range []struct {
		name    string
		logging *Logging
		cmd     string
	}{
		{"logging none", ptr(LogNone), lineOf(70000)},
		{"stdout line, logging stderr", ptr(LogStderr), lineOf(70000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := create(t, CommandInputs{Connection: s.conn(), Logging: tc.logging, ResourceInputs: ri{Create: ptr(tc.cmd)}})
			if err != nil || len(out.Stdout) != 70000 {
				t.Fatalf("err %v, %d bytes", err, len(out.Stdout))
			}
		})
	}
}

// The SSH client of a command is never closed: its connection stays open after Create
// returns (only the session ends). Two commands, two open connections.
func TestCommandLeavesItsSSHConnectionOpen(t *testing.T) {
	s := startSSHServer(t)
	for i := 1; i <= 2; i++ {
		if _, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("true")}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if n := s.Open.Load(); n != int32(i) {
			t.Fatalf("after %d commands: %d SSH connections open, want %d", i, n, i)
		}
	}
}

// A copy closes its client (v1.2.1 remote/copyController.go:173).
func TestCopyClosesItsSSHConnection(t *testing.T) {
	s := startSSHServer(t)
	src := t.TempDir() + "/f"
	writeFile(t, src, "x")
	in := CopyToRemoteInputs{Connection: s.conn(), RemotePath: t.TempDir() + "/g"}
	in.Source.Asset = mustPathAsset(t, src)
	if err := copyToRemote(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d SSH connections still open after the copy", s.Open.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A refused `environment` variable is an error logged at error level; a refused previous
// output only a warning. The message is v1.2.1's, line breaks and tabs included.
func TestSetenvRefusalMessages(t *testing.T) {
	s := startSSHServer(t)
	s.RejectEnvKeys = map[string]bool{"FOO": true, "PULUMI_COMMAND_STDOUT": true}
	logs := captureLogs(t)
	_, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("true")}, Environment: map[string]string{"FOO": "x"}})
	if err == nil || err.Error() != `could not set environment variable "FOO": ssh: setenv failed` {
		t.Fatalf("err = %v", err)
	}
	want := "Unable to set 'FOO'. This only works if your SSH server is configured to accept\n" +
		"\tthese variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could\n" +
		"\tprefix the command itself with the variables in the form 'VAR=value command'"
	if !logs.has(want) {
		t.Fatalf("logged: %q", logs.msgs)
	}
	resp, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{
		State:  CommandOutputs{BaseOutputs: BaseOutputs{Stdout: "prev"}},
		Inputs: CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("echo ran")}},
	})
	if err != nil || resp.Output.Stdout != "ran" {
		t.Fatalf("a refused PULUMI_COMMAND_STDOUT must only warn: %v %q", err, resp.Output.Stdout)
	}
}
