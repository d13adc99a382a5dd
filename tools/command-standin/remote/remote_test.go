package remote

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-go-provider/infer"

	"sync-release/tools/command-standin/common"
)

func ptr[T any](v T) *T { return &v }

// ri: the triggers and commands every Command has (embedded, so a literal names them).
type ri = common.ResourceInputs

func (s *testSSHServer) conn() *Connection {
	c := &Connection{}
	c.Host = ptr("127.0.0.1")
	c.Port = ptr(float64(s.Port))
	c.User = ptr("test")
	c.PrivateKey = ptr(s.ClientKeyPEM)
	c.DialErrorLimit = ptr(2)
	c.PerDialTimeout = ptr(5)
	return c
}

// logCapture records every slog message the provider emits (the go-provider logger falls
// back to slog when no engine is attached).
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }
func (l *logCapture) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

func captureLogs(t *testing.T) *logCapture {
	c := &logCapture{}
	old := slog.Default()
	slog.SetDefault(slog.New(c))
	t.Cleanup(func() { slog.SetDefault(old) })
	return c
}

func create(t *testing.T, in CommandInputs) (CommandOutputs, error) {
	t.Helper()
	resp, err := (&Command{}).Create(context.Background(), infer.CreateRequest[CommandInputs]{Name: "cmd", Inputs: in})
	return resp.Output, err
}

func TestNonZeroExitErrorText(t *testing.T) {
	s := startSSHServer(t)
	cmd := `echo partial; exit 3`
	_, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: &cmd}})
	want := "Process exited with status 3: running \"echo partial; exit 3\":\npartial\n"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestCreateCapturesTrimmedStdoutStderr(t *testing.T) {
	s := startSSHServer(t)
	cmd := `printf 'a\nb\n'; echo oops >&2`
	out, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: &cmd}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "a\nb" || out.Stderr != "oops" {
		t.Fatalf("stdout=%q stderr=%q", out.Stdout, out.Stderr)
	}
}

func TestStdin(t *testing.T) {
	s := startSSHServer(t)
	out, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("cat")}, Stdin: ptr("from stdin\n")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "from stdin" {
		t.Fatalf("stdout = %q", out.Stdout)
	}
}

func TestLoggingModes(t *testing.T) {
	s := startSSHServer(t)
	for _, tc := range []struct {
		mode           *Logging
		logOut, logErr bool
	}{
		{nil, true, true},
		{ptr(LogStdout), true, false},
		{ptr(LogStderr), false, true},
		{ptr(LogStdoutAndStderr), true, true},
		{ptr(LogNone), false, false},
	} {
		name := "unset"
		if tc.mode != nil {
			name = string(*tc.mode)
		}
		t.Run(name, func(t *testing.T) {
			logs := captureLogs(t)
			out, err := create(t, CommandInputs{Connection: s.conn(), Logging: tc.mode,
				ResourceInputs: ri{Create: ptr(`echo OUT-LINE; echo ERR-LINE >&2`)}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Stdout != "OUT-LINE" || out.Stderr != "ERR-LINE" {
				t.Fatalf("outputs must be captured whatever the logging: %q %q", out.Stdout, out.Stderr)
			}
			if logs.has("OUT-LINE") != tc.logOut || logs.has("ERR-LINE") != tc.logErr {
				t.Fatalf("logged stdout=%v stderr=%v, want %v %v", logs.has("OUT-LINE"), logs.has("ERR-LINE"), tc.logOut, tc.logErr)
			}
		})
	}
}

func TestEnvironmentAndPreviousOutput(t *testing.T) {
	s := startSSHServer(t)
	cmd := `echo "$FOO/$PULUMI_COMMAND_STDOUT/$PULUMI_COMMAND_STDERR"`
	olds := CommandOutputs{BaseOutputs: BaseOutputs{Stdout: "prev-out", Stderr: "prev-err"}}
	resp, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{
		State: olds, Inputs: CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: &cmd}, Environment: map[string]string{"FOO": "bar"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Output.Stdout != "bar/prev-out/prev-err" {
		t.Fatalf("stdout = %q", resp.Output.Stdout)
	}
	resp, err = (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{
		State: olds, Inputs: CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: &cmd}, AddPreviousOutputInEnv: ptr(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Output.Stdout != "//" {
		t.Fatalf("addPreviousOutputInEnv=false: stdout = %q", resp.Output.Stdout)
	}
}

func TestEnvironmentRejectedIsAnError(t *testing.T) {
	s := startSSHServer(t)
	s.RejectEnvKeys = map[string]bool{"FOO": true}
	_, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("true")}, Environment: map[string]string{"FOO": "x"}})
	if err == nil || !strings.Contains(err.Error(), `could not set environment variable "FOO"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestUpdateRunsUpdateElseCreate(t *testing.T) {
	s := startSSHServer(t)
	run := func(in CommandInputs) string {
		resp, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{Inputs: in})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Output.Stdout
	}
	if got := run(CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("echo c"), Update: ptr("echo u")}}); got != "u" {
		t.Fatalf("update set: %q", got)
	}
	if got := run(CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("echo c")}}); got != "c" {
		t.Fatalf("update unset: %q", got)
	}
}

func TestPreviewAndDeleteWithoutCommandDialNothing(t *testing.T) {
	s := startSSHServer(t)
	resp, err := (&Command{}).Create(context.Background(), infer.CreateRequest[CommandInputs]{
		Name: "c", Inputs: CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("echo hi")}}, DryRun: true})
	if err != nil || resp.Output.Stdout != "" {
		t.Fatal(err, resp.Output.Stdout)
	}
	if _, err := (&Command{}).Delete(context.Background(), infer.DeleteRequest[CommandOutputs]{
		State: CommandOutputs{CommandInputs: CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("echo hi")}}}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Conns.Load(); n != 0 {
		t.Fatalf("%d connections, want 0", n)
	}
	if _, err := (&Command{}).Delete(context.Background(), infer.DeleteRequest[CommandOutputs]{
		State: CommandOutputs{CommandInputs: CommandInputs{Connection: s.conn(), ResourceInputs: ri{Delete: ptr("true")}}}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Conns.Load(); n != 1 {
		t.Fatalf("%d connections after delete with a command, want 1", n)
	}
}

func TestHostKeyPinned(t *testing.T) {
	s := startSSHServer(t)
	c := s.conn()
	c.HostKey = ptr(strings.TrimSpace(s.HostKey))
	if _, err := create(t, CommandInputs{Connection: c, ResourceInputs: ri{Create: ptr("true")}}); err != nil {
		t.Fatalf("right key: %v", err)
	}
	if s.AuthAttempts.Load() == 0 {
		t.Fatal("expected an authentication with the right host key")
	}
	s.AuthAttempts.Store(0)
	other, _ := newKeyPair(t)
	c.HostKey = ptr(strings.TrimSpace(string(marshalAuthorized(other))))
	c.DialErrorLimit = ptr(0)
	_, err := create(t, CommandInputs{Connection: c, ResourceInputs: ri{Create: ptr("true")}})
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("wrong key: err = %v", err)
	}
	if n := s.AuthAttempts.Load(); n != 0 {
		t.Fatalf("%d authentication attempts with a wrong host key, want 0", n)
	}
}

func TestHostKeyUnsetAcceptsAnyKey(t *testing.T) {
	s := startSSHServer(t)
	if _, err := create(t, CommandInputs{Connection: s.conn(), ResourceInputs: ri{Create: ptr("true")}}); err != nil {
		t.Fatal(err)
	}
}

// --- CopyToRemote path rules ---------------------------------------------------------

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCopyFileToPath(t *testing.T) {
	s := startSSHServer(t)
	local, remote := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(local, "f.txt"), "one")
	if err := CopyPath(s.sftpClient(t), filepath.Join(local, "f.txt"), filepath.Join(remote, "g.txt")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(remote, "g.txt")); got != "one" {
		t.Fatal(got)
	}
	writeFile(t, filepath.Join(local, "f.txt"), "two") // existing file is overwritten
	if err := CopyPath(s.sftpClient(t), filepath.Join(local, "f.txt"), filepath.Join(remote, "g.txt")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(remote, "g.txt")); got != "two" {
		t.Fatal(got)
	}
}

func TestCopyFileIntoDirectory(t *testing.T) {
	s := startSSHServer(t)
	local, remote := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(local, "f.txt"), "x")
	if err := CopyPath(s.sftpClient(t), filepath.Join(local, "f.txt"), remote); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(remote, "f.txt")); got != "x" {
		t.Fatal(got)
	}
}

func TestCopyDirectoryToDestSlashDirname(t *testing.T) {
	s := startSSHServer(t)
	local := t.TempDir()
	writeFile(t, filepath.Join(local, "d", "a.txt"), "a")
	writeFile(t, filepath.Join(local, "d", "sub", "b.txt"), "b")
	for _, exists := range []bool{true, false} {
		remote := filepath.Join(t.TempDir(), "dest")
		if exists {
			if err := os.Mkdir(remote, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := CopyPath(s.sftpClient(t), filepath.Join(local, "d"), remote); err != nil {
			t.Fatalf("dest exists=%v: %v", exists, err)
		}
		if readFile(t, filepath.Join(remote, "d", "a.txt")) != "a" || readFile(t, filepath.Join(remote, "d", "sub", "b.txt")) != "b" {
			t.Fatalf("dest exists=%v: wrong layout", exists)
		}
	}
}

func TestCopyDirectoryTrailingSlashCopiesContents(t *testing.T) {
	s := startSSHServer(t)
	local := t.TempDir()
	writeFile(t, filepath.Join(local, "d", "a.txt"), "a")
	for _, exists := range []bool{true, false} {
		remote := filepath.Join(t.TempDir(), "dest")
		if exists {
			if err := os.Mkdir(remote, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := CopyPath(s.sftpClient(t), filepath.Join(local, "d")+"/", remote); err != nil {
			t.Fatal(err)
		}
		if readFile(t, filepath.Join(remote, "a.txt")) != "a" {
			t.Fatalf("dest exists=%v: wrong layout", exists)
		}
	}
}

// v1.2.1 creates missing parent directories (remote/copyController.go:231-236, 260-265):
// a directory source makes dest with its parents, a file source gets its parents made.
func TestCopyCreatesMissingParents(t *testing.T) {
	s := startSSHServer(t)
	local := t.TempDir()
	writeFile(t, filepath.Join(local, "d", "a.txt"), "a")
	writeFile(t, filepath.Join(local, "f.txt"), "f")
	remote := t.TempDir()
	if err := CopyPath(s.sftpClient(t), filepath.Join(local, "d"), filepath.Join(remote, "p1", "q", "dest")); err != nil {
		t.Fatalf("directory into missing parents: %v", err)
	}
	if got := readFile(t, filepath.Join(remote, "p1", "q", "dest", "d", "a.txt")); got != "a" {
		t.Fatal(got)
	}
	if err := CopyPath(s.sftpClient(t), filepath.Join(local, "d")+"/", filepath.Join(remote, "p2", "dest")); err != nil {
		t.Fatalf("directory contents into missing parents: %v", err)
	}
	if got := readFile(t, filepath.Join(remote, "p2", "dest", "a.txt")); got != "a" {
		t.Fatal(got)
	}
	if err := CopyPath(s.sftpClient(t), filepath.Join(local, "f.txt"), filepath.Join(remote, "p3", "q", "f.copy")); err != nil {
		t.Fatalf("file into missing parents: %v", err)
	}
	if got := readFile(t, filepath.Join(remote, "p3", "q", "f.copy")); got != "f" {
		t.Fatal(got)
	}
}

// A text asset (StringAsset) is written to remotePath, parents created; onto an existing
// directory it is an error (v1.2.1 remote/copyController.go:34-62).
func TestCopyText(t *testing.T) {
	s := startSSHServer(t)
	remote := t.TempDir()
	dest := filepath.Join(remote, "a", "b", "note.txt")
	if err := CopyText(s.sftpClient(t), "hello\n", dest); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dest); got != "hello\n" {
		t.Fatalf("%q", got)
	}
	if err := CopyText(s.sftpClient(t), "again", dest); err != nil || readFile(t, dest) != "again" {
		t.Fatalf("overwrite: %v", err)
	}
	err := CopyText(s.sftpClient(t), "x", remote)
	want := "remote path " + remote + " is a directory; when using a text asset, remotePath must be a file path"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v", err)
	}
}

func TestCopyDirectoryOntoFileIsAnError(t *testing.T) {
	s := startSSHServer(t)
	local, remote := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(local, "d", "a.txt"), "a")
	writeFile(t, filepath.Join(remote, "file"), "")
	// d onto a file: v1.2.1 stats dest/d inside the file. This test's SFTP server (pkg/sftp)
	// answers ENOTDIR with SSH_FX_FAILURE, hence "failed to stat"; OpenSSH's sftp-server answers
	// SSH_FX_NO_SUCH_FILE, and then the Mkdir of dest/d fails: "failed to create remote
	// directory <dest>/d: …".
	err := CopyPath(s.sftpClient(t), filepath.Join(local, "d"), filepath.Join(remote, "file"))
	if err == nil || !strings.HasPrefix(err.Error(), "failed to stat remote path "+filepath.Join(remote, "file", "d")+": ") {
		t.Fatalf("directory onto an existing file: err = %v", err)
	}
	// d/ onto a file: the walk finds the file where its first directory should be.
	err = CopyPath(s.sftpClient(t), filepath.Join(local, "d")+"/", filepath.Join(remote, "file"))
	if err == nil || err.Error() != "remote path "+filepath.Join(remote, "file")+" exists but is not a directory" {
		t.Fatalf("directory contents onto an existing file: err = %v", err)
	}
}
