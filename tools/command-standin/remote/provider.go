package remote

import (
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Description names the plugin plainly as a stand-in.
const Description = "Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo. " +
	"Serves command:local:Command, command:remote:Command and command:remote:CopyToRemote only."

// NewProvider builds the provider with the given resources and this package's two.
func NewProvider(more ...infer.InferredResource) (p.Provider, error) {
	return infer.NewProviderBuilder().
		WithDisplayName("Command (sync-release stand-in)").
		WithDescription(Description).
		WithResources(append(more,
			infer.Resource(&Command{}),
			infer.Resource(&CopyToRemote{}),
		)...).
		Build()
}
