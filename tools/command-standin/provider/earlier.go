// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.

package provider

import (
	"context"
	"fmt"

	p "github.com/pulumi/pulumi-go-provider"
)

// earlierSteps are the resources a stack of sync-release's earlier layout holds and this stand-in
// no longer serves: its `up` to the current layout deletes them. v1.2.1 deletes either without
// connecting anywhere when it has no `delete` command (remote/commandController.go:86-92; a
// CopyToRemote has no delete at all), so the stand-in does the same, and refuses only a remote
// delete command it could not run.
var earlierSteps = map[string]bool{
	"command:remote:Command":      true,
	"command:remote:CopyToRemote": true,
}

// withEarlierDeletes serves the delete of the earlier layout's remote steps in front of `next`.
func withEarlierDeletes(next p.Provider) p.Provider {
	serve := next.Delete
	next.Delete = func(ctx context.Context, req p.DeleteRequest) error {
		if !earlierSteps[string(req.Urn.Type())] {
			return serve(ctx, req)
		}
		if command, ok := req.Properties.GetOk("delete"); ok && command.IsString() && command.AsString() != "" {
			return fmt.Errorf("the sync-release stand-in cannot run the remote delete command of %s", req.Urn.Name())
		}
		return nil
	}
	return next
}
