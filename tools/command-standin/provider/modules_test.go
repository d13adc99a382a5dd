package provider

// The stand-in runs on the framework and SDK the released v1.2.1 plugin is built with
// (provider/go.mod at tag v1.2.1), so infer's schema, diffs, secrets, previews and the cancel
// middleware are the same code. The plugin is built with -mod=readonly (scripts/build-engine.sh),
// so go.mod is what it links.

import (
	"os"
	"regexp"
	"testing"
)

func TestBuiltOnTheReleasedPluginsModules(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for path, version := range map[string]string{
		"github.com/pulumi/pulumi-go-provider": "v1.3.0",
		"github.com/pulumi/pulumi/sdk/v3":      "v3.224.0",
		"github.com/pulumi/pulumi/pkg/v3":      "v3.224.0",
		"github.com/gobwas/glob":               "v0.2.3",
	} {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(path) + ` ` + regexp.QuoteMeta(version) + `( // indirect)?$`).Match(mod) {
			t.Errorf("go.mod does not require %s %s", path, version)
		}
	}
	// v1.2.1's provider/go.mod replaces nothing, so neither does this one.
	if regexp.MustCompile(`(?m)^replace\s`).Match(mod) {
		t.Error("go.mod has a replace directive; v1.2.1's has none")
	}
}
