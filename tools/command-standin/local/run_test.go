package local

// command:local:Command's process as v1.2.1 provider/pkg/provider/local/commandOutputs.go runs it.

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
)

func TestCreateRunsWithShAndTrimsOneNewline(t *testing.T) {
	out, err := create(t, withCreate(`printf 'a\nb\n\n'; echo oops >&2; readlink /proc/$$/exe`))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.Stdout, "\n")
	if strings.Join(lines[:3], "|") != "a|b|" || out.Stderr != "oops" {
		t.Fatalf("stdout=%q stderr=%q", out.Stdout, out.Stderr)
	}
	if sh, _ := filepath.EvalSymlinks("/bin/sh"); lines[3] != sh {
		t.Fatalf("ran under %q, want /bin/sh (%s)", lines[3], sh)
	}
	if id := out.Stdout; id == "" {
		t.Fatal("no output")
	}
}

func TestNonZeroExitErrorText(t *testing.T) {
	_, err := create(t, withCreate(`echo partial; sleep 0.2; echo err >&2; exit 3`))
	want := "exit status 3: running \"echo partial; sleep 0.2; echo err >&2; exit 3\":\npartial\nerr\n"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestUnstartableInterpreterIsAnError(t *testing.T) {
	in := withCreate("true")
	in.Interpreter = &[]string{"/nonexistent/sh", "-c"}
	_, err := create(t, in)
	want := "fork/exec /nonexistent/sh: no such file or directory: running \"true\":\n"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestStdinEnvironmentDirInterpreter(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STANDIN_FROM_PLUGIN", "plugin-env")
	in := withCreate(`read -r line; echo "$line/$FOO/$STANDIN_FROM_PLUGIN/$(pwd)/${BASH_VERSION:+bash}"`)
	in.Stdin = ptr("from stdin\nsecond\n")
	in.Environment = &map[string]string{"FOO": "bar"}
	in.Dir = &dir
	in.Interpreter = &[]string{"/bin/bash", "-c"}
	out, err := create(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := "from stdin/bar/plugin-env/" + dir + "/bash"; out.Stdout != want {
		t.Fatalf("stdout %q, want %q", out.Stdout, want)
	}
	// Without dir: the plugin's own working directory; an empty interpreter list is /bin/sh -c.
	wd, _ := os.Getwd()
	in = withCreate(`pwd; echo "${BASH_VERSION:-not bash}"`)
	in.Interpreter = &[]string{}
	if out, err := create(t, in); err != nil || out.Stdout != wd+"\nnot bash" {
		t.Fatalf("%v %q", err, out.Stdout)
	}
	// A missing dir fails.
	in = withCreate("true")
	in.Dir = ptr(filepath.Join(dir, "missing"))
	if _, err := create(t, in); err == nil {
		t.Fatal("a missing dir must fail")
	}
}

// A probe as the stack will run one: `bash -s` with its script on stdin, under timeout;
// stdin is not sent when empty (the command then reads EOF at once).
func TestScriptOnStdinUnderTimeout(t *testing.T) {
	in := withCreate(`timeout 5 bash -s probe-arg`)
	in.Stdin = ptr("set -eu\necho \"$1 ran\"\necho done >&2\n")
	in.Logging = ptr(LogNone)
	out, err := create(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Stdout != "probe-arg ran" || out.Stderr != "done" {
		t.Fatalf("stdout %q stderr %q", out.Stdout, out.Stderr)
	}
	in = withCreate(`timeout 1 sleep 10`)
	_, err = create(t, in)
	if err == nil || err.Error() != "exit status 124: running \"timeout 1 sleep 10\":\n" {
		t.Fatalf("timeout: %v", err)
	}
	in = withCreate(`cat; echo end`)
	in.Stdin = ptr("")
	if out, err := create(t, in); err != nil || out.Stdout != "end" {
		t.Fatalf("empty stdin: %v %q", err, out.Stdout)
	}
}

func TestPreviousOutputInEnv(t *testing.T) {
	cmd := `echo "$PULUMI_COMMAND_STDOUT/$PULUMI_COMMAND_STDERR"`
	state := CommandOutputs{BaseOutputs: BaseOutputs{Stdout: "prev-out", Stderr: "prev-err"}}
	resp, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{State: state, Inputs: withCreate(cmd)})
	if err != nil || resp.Output.Stdout != "prev-out/prev-err" {
		t.Fatalf("unset: %v %q", err, resp.Output.Stdout)
	}
	in := withCreate(cmd)
	in.AddPreviousOutputInEnv = ptr(false)
	resp, err = (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{State: state, Inputs: in})
	if err != nil || resp.Output.Stdout != "/" {
		t.Fatalf("false: %v %q", err, resp.Output.Stdout)
	}
}

func TestLoggingModes(t *testing.T) {
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
			in := withCreate(`echo OUT-LINE; echo ERR-LINE >&2`)
			in.Logging = tc.mode
			out, err := create(t, in)
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

func lineOf(n int) string { return "head -c " + strconv.Itoa(n) + " /dev/zero | tr '\\0' x; echo" }

// As the remote command: a logged line of 64 KiB or more and the command never returns
// (util/util.go:32-53 stops reading the pipe); unlogged, it is captured whole.
func TestLongLoggedLineNeverReturns(t *testing.T) {
	if out, err := create(t, withCreate(lineOf(65535))); err != nil || len(out.Stdout) != 65535 {
		t.Fatalf("65,535 bytes: %v %d", err, len(out.Stdout))
	}
	done := make(chan error, 1)
	go func() {
		_, err := (&Command{}).Create(context.Background(), infer.CreateRequest[CommandInputs]{Name: "c", Inputs: withCreate(lineOf(65536))})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("returned (%v); v1.2.1 never returns after a logged line over 64 KiB", err)
	case <-time.After(3 * time.Second):
	}
	in := withCreate(lineOf(70000))
	in.Logging = ptr(LogNone)
	if out, err := create(t, in); err != nil || len(out.Stdout) != 70000 {
		t.Fatalf("logging none: %v %d", err, len(out.Stdout))
	}
}

func TestAssetPathsAndArchivePaths(t *testing.T) {
	dir := t.TempDir()
	in := withCreate(`mkdir -p assets/logos src && echo svg > assets/logos/logo.svg && echo js > src/index.js && echo s > src/secret.js && echo x > top.txt`)
	in.Dir = &dir
	in.AssetPaths = &[]string{"assets/**", "src/**.js", "!**secret.*"}
	in.ArchivePaths = &[]string{"**.txt"}
	out, err := create(t, in)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k, v := range *out.Assets {
		keys = append(keys, k)
		if v.Asset == nil || v.Asset.Path != filepath.Join(dir, k) {
			t.Errorf("%s: %+v", k, v)
		}
	}
	sort.Strings(keys)
	if strings.Join(keys, " ") != "assets/logos/logo.svg src/index.js" {
		t.Fatalf("assets: %v", keys)
	}
	if out.Archive == nil || len(out.Archive.Assets) != 1 || out.Archive.Assets["top.txt"] == nil {
		t.Fatalf("archive: %+v", out.Archive)
	}
}

func createIn(ctx context.Context, in CommandInputs) (CommandOutputs, error) {
	resp, err := (&Command{}).Create(ctx, infer.CreateRequest[CommandInputs]{Name: "cmd", Inputs: in})
	return resp.Output, err
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// When the context ends (customTimeouts or the engine's Cancel, see provider/engine_test.go),
// exec.CommandContext kills the direct child (SIGKILL) and nothing else, then Wait waits for
// the stdout/stderr copies (WaitDelay 0): a grandchild holding either stream keeps the step
// waiting until it exits; one holding neither outlives the step. v1.2.1
// local/commandOutputs.go:59,104-107. The released plugin, through the engine, measured as
// docs say: `exec sleep 40` under customTimeouts create 5s failed after 7 s, `sleep 60 & wait`
// after 62 s.
func TestDeadlineKillsTheDirectChildOnly(t *testing.T) {
	const deadline = time.Second
	for _, tc := range []struct {
		name, cmd  string
		grandchild bool          // the command leaves a grandchild that touches the marker after 4 s
		atLeast    time.Duration // the step returns no earlier than this
		atMost     time.Duration // and no later
	}{
		{"exec: the child is the command", `exec sleep 30`, false, 0, 3 * time.Second},
		{"a grandchild holding stdout", `(sleep 4; touch "$M") 2>/dev/null & wait`, true, 3500 * time.Millisecond, 10 * time.Second},
		{"a grandchild holding stderr", `(sleep 4; touch "$M") >/dev/null & wait`, true, 3500 * time.Millisecond, 10 * time.Second},
		{"a grandchild holding neither", `(sleep 4; touch "$M") >/dev/null 2>&1 & wait`, true, 0, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := filepath.Join(t.TempDir(), "grandchild-done")
			in := withCreate(tc.cmd)
			in.Environment = &map[string]string{"M": marker}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			_, err := createIn(ctx, in)
			took := time.Since(start)
			want := "signal: killed: running " + strconv.Quote(tc.cmd) + ":\n"
			if err == nil || err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
			if took < tc.atLeast || took > tc.atMost {
				t.Fatalf("returned after %v, want %v..%v", took, tc.atLeast, tc.atMost)
			}
			if !tc.grandchild {
				return
			}
			// Waited for: the grandchild had finished. Not waited for: it is still running, unkilled.
			if waited := tc.atLeast > 0; exists(marker) != waited {
				t.Fatalf("grandchild finished when the step returned: %v, want %v", exists(marker), waited)
			}
			for end := time.Now().Add(8 * time.Second); !exists(marker); time.Sleep(100 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatal("the grandchild was killed with the child")
				}
			}
		})
	}
}

// stdin is connected only when non-empty; otherwise the process reads the null device
// (os/exec's nil Stdin). v1.2.1 local/commandOutputs.go:97-99.
func TestStdinOnlyWhenNonEmpty(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin *string
		want  string
	}{
		{"unset", nil, "/dev/null"},
		{"empty", ptr(""), "/dev/null"},
		{"non-empty", ptr("x"), "pipe:"},
	} {
		in := withCreate(`readlink /proc/self/fd/0`)
		in.Stdin = tc.stdin
		out, err := create(t, in)
		if err != nil || !strings.HasPrefix(out.Stdout, tc.want) {
			t.Errorf("%s: %v %q, want %s…", tc.name, err, out.Stdout, tc.want)
		}
	}
}

// The plugin's environment, then `environment`, then the previous outputs: os/exec keeps the
// last value of a name, so `environment` overrides the plugin's and the previous outputs
// override `environment` (addPreviousOutputInEnv unset or true); false leaves `environment`'s.
// v1.2.1 local/commandOutputs.go:81-95.
func TestEnvironmentOrder(t *testing.T) {
	t.Setenv("STANDIN_SHADOWED", "plugin")
	state := CommandOutputs{BaseOutputs: BaseOutputs{Stdout: "prev-out"}}
	for _, tc := range []struct {
		add  *bool
		want string
	}{
		{nil, "env/prev-out/"},
		{ptr(true), "env/prev-out/"},
		{ptr(false), "env/mine/"},
	} {
		in := withCreate(`echo "$STANDIN_SHADOWED/$PULUMI_COMMAND_STDOUT/${PULUMI_COMMAND_STDERR-unset}"`)
		in.Environment = &map[string]string{"STANDIN_SHADOWED": "env", "PULUMI_COMMAND_STDOUT": "mine"}
		in.AddPreviousOutputInEnv = tc.add
		resp, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{State: state, Inputs: in})
		// An empty previous stderr sets nothing: the variable stays unset.
		if want := tc.want + "unset"; err != nil || resp.Output.Stdout != want {
			t.Errorf("addPreviousOutputInEnv %v: %v %q, want %q", tc.add, err, resp.Output.Stdout, want)
		}
	}
}

// A `dir` that does not exist: the command does not start. v1.2.1 local/commandOutputs.go:73-75,104-114.
func TestMissingDirErrorText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	in := withCreate("true")
	in.Dir = &dir
	_, err := create(t, in)
	want := "chdir " + dir + ": no such file or directory: running \"true\":\n"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

// On success stdout and stderr lose one trailing newline, nothing else. v1.2.1
// local/commandOutputs.go:142-143.
func TestOneTrailingNewlineTrimmed(t *testing.T) {
	out, err := create(t, withCreate(`printf ' out\n\n'; printf '\terr\r\n' >&2`))
	if err != nil || out.Stdout != " out\n" || out.Stderr != "\terr\r" {
		t.Fatalf("%v stdout %q stderr %q", err, out.Stdout, out.Stderr)
	}
}
