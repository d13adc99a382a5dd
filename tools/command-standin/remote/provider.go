package remote

import (
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Description names the plugin plainly as a stand-in.
const Description = "Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo. " +
	"Serves command:remote:Command and command:remote:CopyToRemote only."

// NewProvider builds the provider with the two resources the stack uses.
func NewProvider() (p.Provider, error) {
	return infer.NewProviderBuilder().
		WithDisplayName("Command (sync-release stand-in)").
		WithDescription(Description).
		WithResources(
			infer.Resource(&Command{}),
			infer.Resource(&CopyToRemote{}),
		).
		Build()
}
