package main

// The schema the stand-in serves, property by property, against what v1.2.1 declares
// (provider/pkg/provider/{common,local,remote}/*.go at tag v1.2.1; the same as its
// provider/cmd/pulumi-resource-command/schema.json and node_modules/@pulumi/command 1.2.1).
// Descriptions are not compared: the stand-in writes its own.

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	rpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"sync-release/tools/command-standin/local"
	"sync-release/tools/command-standin/remote"
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
	Name        string                `json:"name"`
	Description string                `json:"description"`
	Resources   map[string]objectSpec `json:"resources"`
	Types       map[string]objectSpec `json:"types"`
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

func schema(t *testing.T) packageSpec {
	t.Helper()
	prov, err := remote.NewProvider(infer.Resource(&local.Command{}))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.RawServer("command", Version, prov)(nil)
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
	spec := schema(t)
	if spec.Name != "command" || !strings.Contains(spec.Description, "Stand-in for pulumi-command v1.2.1") {
		t.Errorf("name %q, description %q", spec.Name, spec.Description)
	}
	var tokens []string
	for token := range spec.Resources {
		tokens = append(tokens, token)
	}
	// v1.2.1 also serves command:remote:CopyFile (deprecated) and the invoke command:local:run.
	same(t, "resources", tokens, []string{"command:local:Command", "command:remote:Command", "command:remote:CopyToRemote"})
	var types []string
	for token := range spec.Types {
		types = append(types, token)
	}
	same(t, "types", types, []string{"command:local:Logging", "command:remote:Connection", "command:remote:Logging", "command:remote:ProxyConnection"})

	// remote/connection.go:41-83, proxyConnection.go:21-51 (connection_windows.go aside).
	endpoint := []string{
		"agentSocketPath: string", "dialErrorLimit: integer =10", "host: string", "hostKey: string",
		"password: string secret", "perDialTimeout: integer =15", "port: number =22",
		"privateKey: string secret", "privateKeyPassword: string secret", "user: string =root",
	}
	conn := spec.Types["command:remote:Connection"]
	same(t, "Connection", digest(conn.Properties), append([]string{"proxy: #/types/command:remote:ProxyConnection"}, endpoint...))
	same(t, "Connection required", conn.Required, []string{"host"})
	proxy := spec.Types["command:remote:ProxyConnection"]
	same(t, "ProxyConnection", digest(proxy.Properties), endpoint)
	same(t, "ProxyConnection required", proxy.Required, []string{"host"})
	for _, token := range []string{"command:remote:Logging", "command:local:Logging"} {
		var values []string
		for _, v := range spec.Types[token].Enum {
			values = append(values, v.Value)
		}
		same(t, token, values, []string{"stdout", "stderr", "stdoutAndStderr", "none"})
	}

	// common/inputs.go:6-15 + remote/command.go:37-49; no default on addPreviousOutputInEnv.
	remoteIn := []string{
		"addPreviousOutputInEnv: boolean", "connection: #/types/command:remote:Connection secret",
		"create: string", "delete: string", "environment: map[string]", "logging: #/types/command:remote:Logging",
		"stdin: string", "triggers: []pulumi.json#/Any replaceOnChanges", "update: string",
	}
	cmd := spec.Resources["command:remote:Command"]
	same(t, "remote Command inputs", digest(cmd.InputProperties), remoteIn)
	same(t, "remote Command outputs", digest(cmd.Properties), append([]string{"stdout: string", "stderr: string"}, remoteIn...))
	same(t, "remote Command required", cmd.Required, []string{"connection", "stdout", "stderr"})
	same(t, "remote Command required inputs", cmd.RequiredInputs, []string{"connection"})

	// remote/copy.go:36-41.
	copyIn := []string{
		"connection: #/types/command:remote:Connection secret", "remotePath: string",
		"source: pulumi.json#/Asset", "triggers: []pulumi.json#/Any replaceOnChanges",
	}
	cp := spec.Resources["command:remote:CopyToRemote"]
	same(t, "CopyToRemote inputs", digest(cp.InputProperties), copyIn)
	same(t, "CopyToRemote outputs", digest(cp.Properties), copyIn)
	same(t, "CopyToRemote required", cp.Required, []string{"connection", "source", "remotePath"})
	same(t, "CopyToRemote required inputs", cp.RequiredInputs, []string{"connection", "source", "remotePath"})

	// common/inputs.go:6-15 + local/base.go:24-33, 131-136.
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
