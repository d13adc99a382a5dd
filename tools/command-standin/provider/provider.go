// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.

// Package provider is what the plugin serves: the `command` provider with
// command:local:Command, on pulumi-go-provider's infer as v1.2.1's provider.go:31-95 builds it
// (infer.Provider, which wraps it in middleware/cancel: customTimeouts and Cancel end the
// operations' contexts).
package provider

import (
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/middleware/schema"

	"sync-release/tools/command-standin/local"
)

// Name and Version are what @pulumi/command 1.2.1 asks the engine for.
const (
	Name    = "command"
	Version = "1.2.1"
)

// Description names the plugin plainly as a stand-in (scripts/released-plugins.sh looks for it).
const Description = "Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo. " +
	"Serves command:local:Command only."

// New builds the provider. Like v1.2.1 it has no configuration: `new command.Provider(name, {})`
// configures nothing.
func New() p.Provider {
	return withEarlierDeletes(infer.Provider(infer.Options{
		Metadata: schema.Metadata{
			DisplayName: "Command (sync-release stand-in)",
			Description: Description,
		},
		Resources: []infer.InferredResource{infer.Resource(&local.Command{})},
	}))
}
