// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.
// Written from a reading of the released provider's source (see README.md); not its code.
// Each function names the v1.2.1 lines (provider/pkg/provider/local/) it follows.

// Package local serves command:local:Command: a command run on the machine the engine runs on.
package local

import (
	"context"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Command is command:local:Command.
type Command struct{}

func (c *Command) Annotate(a infer.Annotator) {
	a.Describe(&c, "A local command to be executed.\n\n"+
		"Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.")
}

var (
	_ infer.CustomResource[CommandInputs, CommandOutputs] = (*Command)(nil)
	_ infer.CustomUpdate[CommandInputs, CommandOutputs]   = (*Command)(nil)
	_ infer.CustomDelete[CommandOutputs]                  = (*Command)(nil)
)

// Create runs `create`; nothing runs during preview or when `create` is unset
// (v1.2.1 local/commandController.go:34-57). On an error the framework returns no state at
// all (pulumi-go-provider infer/resource.go:1271-1293), so the engine records nothing.
func (*Command) Create(ctx context.Context, req infer.CreateRequest[CommandInputs]) (infer.CreateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
	}
	if req.DryRun || state.Create == nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, nil
	}
	err = run(ctx, *state.Create, state.BaseInputs, &state.BaseOutputs, state.Logging)
	return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
}

// Update runs `update`, else `create`, else nothing, with the new inputs and the previous
// outputs (v1.2.1 local/commandController.go:67-90). On an error the framework returns no
// state (infer/resource.go:1440-1464), so the engine keeps the old inputs and outputs and the
// next `up` sees the same change and runs it again.
func (*Command) Update(ctx context.Context, req infer.UpdateRequest[CommandInputs, CommandOutputs]) (infer.UpdateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs, BaseOutputs: req.State.BaseOutputs}
	if req.DryRun {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	cmd := state.Create
	if state.Update != nil {
		cmd = state.Update
	}
	if cmd == nil {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	err := run(ctx, *cmd, state.BaseInputs, &state.BaseOutputs, state.Logging)
	return infer.UpdateResponse[CommandOutputs]{Output: state}, err
}

// Delete runs `delete` with the old state's inputs and outputs, if set
// (v1.2.1 local/commandController.go:93-99).
func (*Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandOutputs]) (infer.DeleteResponse, error) {
	state := req.State
	if state.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	return infer.DeleteResponse{}, run(ctx, *state.Delete, state.BaseInputs, &state.BaseOutputs, state.Logging)
}
