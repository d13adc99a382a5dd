package provider

// The plugin over the gRPC surface the engine uses (CheckConfig, Configure, Check, Diff,
// Create, Update, Delete, Cancel): defaults, diffs, previews, secrets, timeouts and errors come
// from pulumi-go-provider v1.3.0's infer and middleware, as in v1.2.1, around local.Command.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	rpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

const localURN = "urn:pulumi:test::test::command:local:Command::probe"

var marshalOpts = plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true, KeepResources: true, SkipNulls: true}

func toRPC(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, marshalOpts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fromRPC(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, marshalOpts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newRPC is the plugin's server as main.go serves it, configured as the engine configures the
// stack's `new command.Provider("sync", {})`: no inputs but the version the SDK adds.
func newRPC(t *testing.T) rpc.ResourceProviderServer {
	t.Helper()
	srv, err := p.RawServer(Name, Version, New())(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Configure(context.Background(), &rpc.ConfigureRequest{
		Args: toRPC(t, resource.PropertyMap{"version": resource.NewStringProperty(Version)}), AcceptSecrets: true, AcceptResources: true,
	}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func str(v string) resource.PropertyValue { return resource.NewStringProperty(v) }

func TestLocalCommandThroughTheEngineSurface(t *testing.T) {
	srv := newRPC(t)
	marker := filepath.Join(t.TempDir(), "runs")
	inputs := func(trigger, stdin string) resource.PropertyMap {
		m := resource.PropertyMap{
			"create":   resource.NewStringProperty("cat >> " + marker + "; echo created"),
			"update":   resource.NewStringProperty("cat >> " + marker + "; echo updated"),
			"stdin":    resource.NewStringProperty(stdin),
			"logging":  resource.NewStringProperty("none"),
			"triggers": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(trigger)}),
		}
		resp, err := srv.Check(context.Background(), &rpc.CheckRequest{Urn: localURN, News: toRPC(t, m), Olds: toRPC(t, resource.PropertyMap{})})
		if err != nil || len(resp.Failures) > 0 {
			t.Fatalf("check: %v %v", err, resp.GetFailures())
		}
		return fromRPC(t, resp.Inputs)
	}
	olds := inputs("v1", "one\n")
	if _, ok := olds["addPreviousOutputInEnv"]; ok {
		t.Fatalf("Check must add no addPreviousOutputInEnv (v1.2.1 declares no default): %v", olds)
	}
	if _, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: toRPC(t, olds), Preview: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("preview ran the command")
	}
	created, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: toRPC(t, olds)})
	if err != nil {
		t.Fatal(err)
	}
	state := fromRPC(t, created.Properties)
	if state["stdout"].StringValue() != "created" || !strings.HasPrefix(created.Id, "probe") {
		t.Fatalf("id %q state %v", created.Id, state)
	}
	diff := func(news resource.PropertyMap) *rpc.DiffResponse {
		t.Helper()
		d, err := srv.Diff(context.Background(), &rpc.DiffRequest{Id: created.Id, Urn: localURN,
			Olds: toRPC(t, state), OldInputs: toRPC(t, olds), News: toRPC(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := diff(olds); d.Changes == rpc.DiffResponse_DIFF_SOME {
		t.Fatalf("same inputs: %v", d)
	}
	// A trigger element changes: "triggers[0]" comes back as an update, and the engine replaces
	// it because @pulumi/command sets replaceOnChanges: ["triggers[*]"] (local/command.js:155).
	d := diff(inputs("v2", "one\n"))
	if d.Changes != rpc.DiffResponse_DIFF_SOME || d.DeleteBeforeReplace {
		t.Fatalf("trigger change: %v", d)
	}
	if _, ok := d.DetailedDiff["triggers[0]"]; !ok {
		t.Fatalf("trigger change: %v", d.DetailedDiff)
	}
	// Other inputs: an update, which runs `update`.
	news := inputs("v1", "two\n")
	if d := diff(news); d.Changes != rpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
		t.Fatalf("stdin change must update in place: %v", d)
	}
	updated, err := srv.Update(context.Background(), &rpc.UpdateRequest{Id: created.Id, Urn: localURN,
		Olds: toRPC(t, state), OldInputs: toRPC(t, olds), News: toRPC(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fromRPC(t, updated.Properties)["stdout"].StringValue(); got != "updated" {
		t.Fatalf("update stdout %q", got)
	}
	if got, _ := os.ReadFile(marker); string(got) != "one\ntwo\n" {
		t.Fatalf("runs: %q", got)
	}
}

