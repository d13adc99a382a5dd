package provider

// The schema the stand-in serves, property by property, against what v1.2.1 declares for what
// it serves (provider/pkg/provider/{common,local}/*.go and provider.go at tag v1.2.1; the same
// as its provider/cmd/pulumi-resource-command/schema.json and node_modules/@pulumi/command
// 1.2.1). Descriptions are not compared: the stand-in writes its own. The released schema also
// has command:remote:Command, command:remote:CopyToRemote, command:remote:CopyFile, their types
// (command:remote:Connection, command:remote:ProxyConnection, command:remote:Logging) and the
// invoke command:local:run: the stand-in serves none of them, and says so here.

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	rpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

type property struct {
	Type                 string                   `json:"type"`
	Ref                  string                   `json:"$ref"`
	Default              any                      `json:"default"`
	Secret               bool                     `json:"secret"`
	ReplaceOnChanges     bool                     `json:"replaceOnChanges"`
	Items                *property                `json:"items"`
	AdditionalProperties *property                `json:"additionalProperties"`
	Enum                 []struct{ Value string } `json:"enum"`
}

type objectSpec struct {
	Properties      map[string]property      `json:"properties"`
	InputProperties map[string]property      `json:"inputProperties"`
	Required        []string                 `json:"required"`
	RequiredInputs  []string                 `json:"requiredInputs"`
	Type            string                   `json:"type"`
	Enum            []struct{ Value string } `json:"enum"`
}

type packageSpec struct {
	Name        string                     `json:"name"`
	Description string                     `json:"description"`
	Config      map[string]json.RawMessage `json:"config"`
	Provider    objectSpec                 `json:"provider"`
	Resources   map[string]objectSpec      `json:"resources"`
	Types       map[string]objectSpec      `json:"types"`
	Functions   map[string]json.RawMessage `json:"functions"`
}

// short: "type", "[]items", "map[items]" or "$ref", then " =default", " secret", " replaceOnChanges".
func short(pr property) string {
	var s string
	switch {
	case pr.Ref != "":
		s = pr.Ref
	case pr.Type == "array":
		s = "[]" + short(*pr.Items)
	case pr.Type == "object" && pr.AdditionalProperties != nil:
		s = "map[" + short(*pr.AdditionalProperties) + "]"
	default:
		s = pr.Type
	}
	if pr.Default != nil {
		s += fmt.Sprintf(" =%v", pr.Default)
	}
	if pr.Secret {
		s += " secret"
	}
	if pr.ReplaceOnChanges {
		s += " replaceOnChanges"
	}
	return s
}

func digest(props map[string]property) []string {
	var out []string
	for name, pr := range props {
		out = append(out, name+": "+short(pr))
	}
	sort.Strings(out)
	return out
}

func servedSchema(t *testing.T) packageSpec {
	t.Helper()
	srv, err := p.RawServer(Name, Version, New())(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetSchema(context.Background(), &rpc.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var spec packageSpec
	if err := json.Unmarshal([]byte(resp.Schema), &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = append([]string{}, got...), append([]string{}, want...)
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func TestSchemaMatchesV121(t *testing.T) {
	spec := servedSchema(t)
	if spec.Name != "command" || !strings.Contains(spec.Description, "Stand-in for pulumi-command v1.2.1") {
		t.Errorf("name %q, description %q", spec.Name, spec.Description)
	}
	var tokens, types, functions []string
	for token := range spec.Resources {
		tokens = append(tokens, token)
	}
	for token := range spec.Types {
		types = append(types, token)
	}
	for token := range spec.Functions {
		functions = append(functions, token)
	}
	// provider.go:83-94 also serves remote:Command, remote:CopyToRemote, remote:CopyFile, local:run.
	same(t, "resources", tokens, []string{"command:local:Command"})
	same(t, "types", types, []string{"command:local:Logging"})
	same(t, "functions", functions, nil)

	// provider.go:32-95 sets no Config: the provider resource (`new command.Provider(name, {})`)
	// has no inputs and the package no config, as schema.json has `"config": {}, "provider": {}`.
	if len(spec.Config) != 0 || len(spec.Provider.InputProperties) != 0 || len(spec.Provider.Properties) != 0 ||
		len(spec.Provider.Required) != 0 || len(spec.Provider.RequiredInputs) != 0 {
		t.Errorf("config %v, provider %+v", spec.Config, spec.Provider)
	}

	// local/logging.go:9-25.
	var values []string
	for _, v := range spec.Types["command:local:Logging"].Enum {
		values = append(values, v.Value)
	}
	same(t, "command:local:Logging", values, []string{"stdout", "stderr", "stdoutAndStderr", "none"})
	if typ := spec.Types["command:local:Logging"].Type; typ != "string" {
		t.Errorf("command:local:Logging type %q", typ)
	}

	// common/inputs.go:6-15 + local/base.go:24-33, 131-136; no default on addPreviousOutputInEnv.
	localIn := []string{
		"addPreviousOutputInEnv: boolean", "archivePaths: []string", "assetPaths: []string",
		"create: string", "delete: string", "dir: string", "environment: map[string]",
		"interpreter: []string", "logging: #/types/command:local:Logging", "stdin: string",
		"triggers: []pulumi.json#/Any replaceOnChanges", "update: string",
	}
	lc := spec.Resources["command:local:Command"]
	same(t, "local Command inputs", digest(lc.InputProperties), localIn)
	same(t, "local Command outputs", digest(lc.Properties), append([]string{
		"archive: pulumi.json#/Archive", "assets: map[pulumi.json#/Asset]", "stderr: string", "stdout: string",
	}, localIn...))
	same(t, "local Command required", lc.Required, []string{"stdout", "stderr"})
	same(t, "local Command required inputs", lc.RequiredInputs, nil)
}
