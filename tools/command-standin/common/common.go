// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.
// What command:local:Command and command:remote:Command share, as v1.2.1 shares it in
// provider/pkg/provider/common/inputs.go and provider/pkg/provider/util/util.go.

// Package common holds the inputs every Command has and the line logger both use.
package common

import (
	"bufio"
	"context"
	"io"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Names of the variables that carry the previous run's output into the next one
// (v1.2.1 util/util.go:29-30).
const (
	EnvPreviousStdout = "PULUMI_COMMAND_STDOUT"
	EnvPreviousStderr = "PULUMI_COMMAND_STDERR"
)

// ResourceInputs are the inputs of every Command (v1.2.1 common/inputs.go:6-15): triggers
// replace the resource on change (replaceOnChanges), the three commands are optional.
type ResourceInputs struct {
	Triggers *[]any  `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Create   *string `pulumi:"create,optional"`
	Update   *string `pulumi:"update,optional"`
	Delete   *string `pulumi:"delete,optional"`
}

func (c *ResourceInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Triggers, "The resource will be updated (or replaced) if any of these values change. "+
		"The trigger values can be of any type.")
	a.Describe(&c.Create, "The command to run once on resource creation. If an `update` command isn't provided, "+
		"then `create` will also be run when the resource's inputs are modified.")
	a.Describe(&c.Update, "The command to run when the resource is updated. If empty, the create command will be executed instead.")
	a.Describe(&c.Delete, "The command to run on resource deletion.")
}

// LogLines sends each line read from r to the Pulumi log as an info status and closes done
// when it stops reading, as v1.2.1's util.LogOutput does (util/util.go:32-53). Like it, it
// reads with a bufio.Scanner at its default 64 KiB line limit and stops at a longer line
// without draining r: whoever writes to the other end of a pipe then blocks for ever, and so
// the command it logs never returns.
func LogLines(ctx context.Context, r io.Reader, done chan<- struct{}) {
	defer close(done)
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		p.GetLogger(ctx).InfoStatus(scanner.Text())
	}
}

// Logging selects which of a command's streams are echoed to the Pulumi log. Each resource
// module has its own enum type of these values (command:local:Logging, command:remote:Logging).
const (
	LogStdout          = "stdout"
	LogStderr          = "stderr"
	LogStdoutAndStderr = "stdoutAndStderr"
	LogNone            = "none"
)

// LogsStdout / LogsStderr: an unset logging input logs both streams (v1.2.1 remote/logging.go:27-32,
// local/logging.go:27-32).
func LogsStdout(l *string) bool { return l == nil || *l == LogStdout || *l == LogStdoutAndStderr }
func LogsStderr(l *string) bool { return l == nil || *l == LogStderr || *l == LogStdoutAndStderr }
