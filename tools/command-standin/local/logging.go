// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.

package local

import (
	"bufio"
	"context"
	"io"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Logging selects which of the command's streams are echoed to the Pulumi log
// (command:local:Logging, v1.2.1 local/logging.go:9-25).
type Logging string

const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	LogNone            Logging = "none"
)

func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: string(LogStdout), Value: LogStdout, Description: "Capture stdout in logs but not stderr"},
		{Name: string(LogStderr), Value: LogStderr, Description: "Capture stderr in logs but not stdout"},
		{Name: string(LogStdoutAndStderr), Value: LogStdoutAndStderr, Description: "Capture stdout and stderr in logs"},
		{Name: string(LogNone), Value: LogNone, Description: "Capture no logs"},
	}
}

// logsStdout / logsStderr: unset logs both streams (v1.2.1 local/logging.go:27-32).
func (l *Logging) logsStdout() bool { return l == nil || *l == LogStdout || *l == LogStdoutAndStderr }
func (l *Logging) logsStderr() bool { return l == nil || *l == LogStderr || *l == LogStdoutAndStderr }

// logLines sends each line read from r to the Pulumi log as an info status and closes done
// when it stops reading, as v1.2.1's util.LogOutput does (util/util.go:32-53). Like it, it
// reads with a bufio.Scanner at its default 64 KiB line limit and stops at a longer line
// without draining r: whoever writes to the other end of the pipe then blocks for ever, and so
// the command it logs never returns.
func logLines(ctx context.Context, r io.Reader, done chan<- struct{}) {
	defer close(done)
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		p.GetLogger(ctx).InfoStatus(scanner.Text())
	}
}
