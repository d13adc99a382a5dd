// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.

package remote

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Names of the variables that carry the previous run's output into the next one.
const (
	EnvPreviousStdout = "PULUMI_COMMAND_STDOUT"
	EnvPreviousStderr = "PULUMI_COMMAND_STDERR"
)

// Logging selects which of the command's streams are echoed to the Pulumi log.
type Logging string

const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	LogNone            Logging = "none"
)

func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: "stdout", Value: LogStdout, Description: "Capture stdout in logs but not stderr"},
		{Name: "stderr", Value: LogStderr, Description: "Capture stderr in logs but not stdout"},
		{Name: "stdoutAndStderr", Value: LogStdoutAndStderr, Description: "Capture stdout and stderr in logs"},
		{Name: "none", Value: LogNone, Description: "Capture no logs"},
	}
}

// logsStdout/logsStderr: an unset logging input logs both streams.
func (l *Logging) logsStdout() bool {
	return l == nil || *l == LogStdout || *l == LogStdoutAndStderr
}

func (l *Logging) logsStderr() bool {
	return l == nil || *l == LogStderr || *l == LogStdoutAndStderr
}

// Command is command:remote:Command.
type Command struct{}

func (c *Command) Annotate(a infer.Annotator) {
	a.Describe(&c, "A command to run on a remote host. The connection is established via ssh.\n\n"+
		"Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.")
}

// CommandInputs are the inputs of command:remote:Command.
type CommandInputs struct {
	Triggers               *[]any            `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Create                 *string           `pulumi:"create,optional"`
	Update                 *string           `pulumi:"update,optional"`
	Delete                 *string           `pulumi:"delete,optional"`
	Stdin                  *string           `pulumi:"stdin,optional"`
	Logging                *Logging          `pulumi:"logging,optional"`
	Connection             *Connection       `pulumi:"connection" provider:"secret"`
	Environment            map[string]string `pulumi:"environment,optional"`
	AddPreviousOutputInEnv *bool             `pulumi:"addPreviousOutputInEnv,optional"`
}

func (c *CommandInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Triggers, "The resource will be replaced if any of these values change.")
	a.Describe(&c.Create, "The command to run once on resource creation.")
	a.Describe(&c.Update, "The command to run when the resource is updated. If empty, the create command will be executed instead.")
	a.Describe(&c.Delete, "The command to run on resource deletion.")
	a.Describe(&c.Stdin, "Pass a string to the command's process as standard in")
	a.Describe(&c.Logging, "If the command's stdout and stderr should be logged. Defaults to logging both stdout and stderr.")
	a.Describe(&c.Connection, "The parameters with which to connect to the remote host.")
	a.Describe(&c.Environment, "Additional environment variables available to the command's process (sent with SSH setenv; the server must AcceptEnv them).")
	a.Describe(&c.AddPreviousOutputInEnv, "If the previous command's stdout and stderr are injected into the environment of the next run as PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR. Defaults to true.")
	a.SetDefault(&c.AddPreviousOutputInEnv, true)
}

// CommandOutputs are the inputs plus the captured streams.
type CommandOutputs struct {
	CommandInputs
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

func (c *CommandOutputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Stdout, "The standard output of the command's process")
	a.Describe(&c.Stderr, "The standard error of the command's process")
}

var (
	_ infer.CustomResource[CommandInputs, CommandOutputs] = (*Command)(nil)
	_ infer.CustomUpdate[CommandInputs, CommandOutputs]   = (*Command)(nil)
	_ infer.CustomDelete[CommandOutputs]                  = (*Command)(nil)
)

// Create runs `create`; nothing runs during preview or when `create` is unset.
func (*Command) Create(ctx context.Context, req infer.CreateRequest[CommandInputs]) (infer.CreateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil {
		return infer.CreateResponse[CommandOutputs]{Output: state}, err
	}
	if req.DryRun || state.Create == nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, nil
	}
	err = state.run(ctx, *state.Create)
	return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
}

// Update runs `update`, or `create` when `update` is unset; the previous stdout/stderr are
// kept in the state (and offered to the command) until the run replaces them.
func (*Command) Update(ctx context.Context, req infer.UpdateRequest[CommandInputs, CommandOutputs]) (infer.UpdateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs, Stdout: req.State.Stdout, Stderr: req.State.Stderr}
	if req.DryRun {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	var err error
	switch {
	case state.Update != nil:
		err = state.run(ctx, *state.Update)
	case state.Create != nil:
		err = state.run(ctx, *state.Create)
	}
	return infer.UpdateResponse[CommandOutputs]{Output: state}, err
}

// Delete runs `delete` if set; without it nothing is dialled.
func (*Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandOutputs]) (infer.DeleteResponse, error) {
	if req.State.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	state := req.State
	return infer.DeleteResponse{}, state.run(ctx, *state.Delete)
}

// lineLogger sends every complete line written to it to the Pulumi log as an info status.
type lineLogger struct {
	mu  sync.Mutex
	w   *io.PipeWriter
	out chan struct{}
}

func newLineLogger(ctx context.Context) *lineLogger {
	r, w := io.Pipe()
	l := &lineLogger{w: w, out: make(chan struct{})}
	go func() {
		defer close(l.out)
		scanner := bufio.NewScanner(r)
		scanner.Buffer(make([]byte, 64*1024), 1024*1024)
		for scanner.Scan() {
			p.GetLogger(ctx).InfoStatus(scanner.Text())
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return l
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lineLogger) close() {
	l.w.Close()
	<-l.out
}

// lockedBuffer lets the stdout and stderr copiers append to one combined buffer.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func setenvProblem(key string) string {
	return fmt.Sprintf("Unable to set '%s'. This only works if your SSH server is configured to accept "+
		"these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, "+
		"you could prefix the command itself with the variables in the form 'VAR=value command'", key)
}

// run dials, runs cmd in one session and records stdout/stderr (one trailing newline
// trimmed) in c. On failure c keeps its previous outputs and the error carries the
// command and its interleaved output.
func (c *CommandOutputs) run(ctx context.Context, cmd string) error {
	client, err := c.Connection.Dial(ctx)
	if err != nil {
		return err
	}
	defer client.Close()

	session, err := client.NewSession()
	if err != nil {
		return err
	}
	defer session.Close()

	log := p.GetLogger(ctx)
	for k, v := range c.Environment {
		if err := session.Setenv(k, v); err != nil {
			log.Error(setenvProblem(k))
			return fmt.Errorf("could not set environment variable %q: %w", k, err)
		}
	}
	if c.AddPreviousOutputInEnv == nil || *c.AddPreviousOutputInEnv {
		for _, kv := range [][2]string{{EnvPreviousStdout, c.Stdout}, {EnvPreviousStderr, c.Stderr}} {
			if kv[1] == "" {
				continue
			}
			if err := session.Setenv(kv[0], kv[1]); err != nil {
				log.Warning(setenvProblem(kv[0]))
			}
		}
	}
	if c.Stdin != nil && *c.Stdin != "" {
		session.Stdin = strings.NewReader(*c.Stdin)
	}

	var stdout, stderr bytes.Buffer
	var combined lockedBuffer
	logger := newLineLogger(ctx)
	outWriters := []io.Writer{&stdout, &combined}
	if c.Logging.logsStdout() {
		outWriters = append(outWriters, logger)
	}
	errWriters := []io.Writer{&stderr, &combined}
	if c.Logging.logsStderr() {
		errWriters = append(errWriters, logger)
	}
	session.Stdout = io.MultiWriter(outWriters...)
	session.Stderr = io.MultiWriter(errWriters...)

	err = session.Run(cmd)
	logger.close()
	if err != nil {
		return fmt.Errorf("%w: running %q:\n%s", err, cmd, combined.String())
	}
	c.Stdout = strings.TrimSuffix(stdout.String(), "\n")
	c.Stderr = strings.TrimSuffix(stderr.String(), "\n")
	return nil
}
