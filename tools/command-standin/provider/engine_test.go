package provider

// The plugin over the gRPC surface the engine uses (CheckConfig, Configure, Check, Diff,
// Create, Update, Delete, Cancel): defaults, diffs, previews, secrets, timeouts and errors come
// from pulumi-go-provider v1.3.0's infer and middleware, as in v1.2.1, around local.Command.

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	rpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
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

// errorText is what the engine prints for a failed operation: the gRPC status message.
func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return status.Convert(err).Message()
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

// v1.2.1 has no provider configuration (provider.go:32-95 sets no Config): the stack's
// `new command.Provider("sync", {})`, which the engine checks and configures with the version
// @pulumi/command adds, needs nothing and changes nothing: pulumi-go-provider's CheckConfig reads
// the config variables of the served schema (none) and returns the inputs
// (middleware/complexconfig/provider.go:51-80), DiffConfig answers Unimplemented (go-provider provider.go:436-439).
func TestProviderHasNoConfig(t *testing.T) {
	srv := newRPC(t)
	news := toRPC(t, resource.PropertyMap{"version": str(Version)})
	checked, err := srv.CheckConfig(context.Background(), &rpc.CheckRequest{Urn: "urn:pulumi:test::test::pulumi:providers:command::sync", Olds: news, News: news})
	if err != nil || len(checked.GetFailures()) > 0 {
		t.Fatalf("CheckConfig: %v %v", err, checked.GetFailures())
	}
	// No DiffConfig: the engine then compares the provider's inputs itself.
	if _, err := srv.DiffConfig(context.Background(), &rpc.DiffRequest{Urn: "urn:pulumi:test::test::pulumi:providers:command::sync",
		Olds: news, OldInputs: news, News: news}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("DiffConfig: %v, want Unimplemented", err)
	}
}

// localInputs is a Command's inputs as Check returns them.
func localInputs(t *testing.T, srv rpc.ResourceProviderServer, m resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := srv.Check(context.Background(), &rpc.CheckRequest{Urn: localURN, News: toRPC(t, m), Olds: toRPC(t, resource.PropertyMap{})})
	if err != nil || len(resp.Failures) > 0 {
		t.Fatalf("check: %v %v", err, resp.GetFailures())
	}
	return fromRPC(t, resp.Inputs)
}

// customTimeouts reach the provider as the request's timeout in seconds; pulumi-go-provider
// v1.3.0 middleware/cancel/cancel.go:44-54,82-91 (applied by infer.Provider, infer/provider.go:177)
// makes it the operation's context deadline, and the command is killed there (local's
// TestDeadlineKillsTheDirectChildOnly: the direct child only). Create, update and delete alike.
func TestCustomTimeoutsAreTheCommandsDeadline(t *testing.T) {
	srv := newRPC(t)
	const cmd = `exec sleep 30`
	want := "signal: killed: running " + strconv.Quote(cmd) + ":\n"
	olds := localInputs(t, srv, resource.PropertyMap{"create": str("true"), "delete": str(cmd)})
	created, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: toRPC(t, olds)})
	if err != nil {
		t.Fatal(err)
	}
	state := fromRPC(t, created.Properties)
	news := localInputs(t, srv, resource.PropertyMap{"create": str(cmd), "delete": str(cmd)})
	for name, op := range map[string]func() error{
		"create": func() error {
			_, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: toRPC(t, news), Timeout: 1})
			return err
		},
		"update": func() error {
			_, err := srv.Update(context.Background(), &rpc.UpdateRequest{Id: "probe", Urn: localURN,
				Olds: toRPC(t, state), OldInputs: toRPC(t, olds), News: toRPC(t, news), Timeout: 1})
			return err
		},
		"delete": func() error {
			_, err := srv.Delete(context.Background(), &rpc.DeleteRequest{Id: "probe", Urn: localURN,
				Properties: toRPC(t, state), OldInputs: toRPC(t, olds), Timeout: 1})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := op()
			if took := time.Since(start); errorText(err) != want || took > 5*time.Second {
				t.Fatalf("after %v: %q, want %q after about 1 s", took, errorText(err), want)
			}
		})
	}
}

// The middleware turns the timeout into a deadline with time.Second*time.Duration(timeout)
// (cancel.go:49): a fraction of a second is dropped, so under 1 s the deadline has passed
// before the command starts; 0 (no customTimeouts) is no deadline.
func TestTimeoutIsWholeSeconds(t *testing.T) {
	srv := newRPC(t)
	in := toRPC(t, localInputs(t, srv, resource.PropertyMap{"create": str("true")}))
	_, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: in, Timeout: 0.5})
	if want := "context deadline exceeded: running \"true\":\n"; errorText(err) != want {
		t.Fatalf("timeout 0.5: %q, want %q", errorText(err), want)
	}
	slow := toRPC(t, localInputs(t, srv, resource.PropertyMap{"create": str("sleep 1.5; echo done")}))
	resp, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: slow, Timeout: 0})
	if err != nil || fromRPC(t, resp.Properties)["stdout"].StringValue() != "done" {
		t.Fatalf("timeout 0: %v", err)
	}
}

// The engine's Cancel (an interrupted `pulumi up`) cancels every outstanding operation's
// context (cancel.go:56-71), so a running command is killed; every later operation starts
// cancelled (the pool is closed: cancel/internal/evict/pool.go:91-94,126-143), so no command
// starts after it.
func TestCancelEndsEveryOperation(t *testing.T) {
	srv := newRPC(t)
	started := filepath.Join(t.TempDir(), "started")
	cmd := `touch "$M"; exec sleep 30`
	in := toRPC(t, localInputs(t, srv, resource.PropertyMap{"create": str(cmd), "environment": resource.NewObjectProperty(
		resource.PropertyMap{"M": str(started)})}))
	done := make(chan error, 1)
	go func() {
		_, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: in})
		done <- err
	}()
	for end := time.Now().Add(10 * time.Second); !exists(started); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the command did not start")
		}
	}
	if _, err := srv.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if want := "signal: killed: running " + strconv.Quote(cmd) + ":\n"; errorText(err) != want {
			t.Fatalf("%q, want %q", errorText(err), want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cancel did not end the running command")
	}
	later := toRPC(t, localInputs(t, srv, resource.PropertyMap{"create": str("true")}))
	_, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: later})
	if want := "context canceled: running \"true\":\n"; errorText(err) != want {
		t.Fatalf("after Cancel: %q, want %q", errorText(err), want)
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// A failed create or update returns an error and no state at all: no ErrorResourceInitFailed
// detail, no properties (infer/resource.go:1271-1293, 1440-1464; go-provider provider.go:1085-1097,
// 1180-1192), so the engine records no new resource, or keeps the old inputs and outputs of the
// updated one: the next `up` sees the same change and runs it again.
func TestFailedOperationsReturnNoState(t *testing.T) {
	srv := newRPC(t)
	failing := localInputs(t, srv, resource.PropertyMap{"create": str("echo partial; exit 3")})
	resp, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: toRPC(t, failing)})
	if want := "exit status 3: running \"echo partial; exit 3\":\npartial\n"; errorText(err) != want || resp != nil ||
		len(status.Convert(err).Details()) > 0 {
		t.Fatalf("create: %q %v %v, want %q and nothing else", errorText(err), resp, status.Convert(err).Details(), want)
	}

	olds := localInputs(t, srv, resource.PropertyMap{"create": str("echo v1")})
	created, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: toRPC(t, olds)})
	if err != nil {
		t.Fatal(err)
	}
	state := fromRPC(t, created.Properties)
	news := localInputs(t, srv, resource.PropertyMap{"create": str("echo v1"), "update": str("echo v2; exit 4")})
	update := func(news resource.PropertyMap) (*rpc.UpdateResponse, error) {
		return srv.Update(context.Background(), &rpc.UpdateRequest{Id: created.Id, Urn: localURN,
			Olds: toRPC(t, state), OldInputs: toRPC(t, olds), News: toRPC(t, news)})
	}
	updated, err := update(news)
	if want := "exit status 4: running \"echo v2; exit 4\":\nv2\n"; errorText(err) != want || updated != nil ||
		len(status.Convert(err).Details()) > 0 {
		t.Fatalf("update: %q %v %v, want %q and nothing else", errorText(err), updated, status.Convert(err).Details(), want)
	}
	// The engine still holds `state` and `olds`: the same change is planned again.
	d, err := srv.Diff(context.Background(), &rpc.DiffRequest{Id: created.Id, Urn: localURN,
		Olds: toRPC(t, state), OldInputs: toRPC(t, olds), News: toRPC(t, news)})
	if err != nil || d.Changes != rpc.DiffResponse_DIFF_SOME {
		t.Fatalf("diff after a failed update: %v %v", err, d)
	}
	news["update"] = str("echo v2")
	if updated, err = update(news); err != nil || fromRPC(t, updated.Properties)["stdout"].StringValue() != "v2" {
		t.Fatalf("retried update: %v", err)
	}
}

// Secretness flows only from an input to the output of the same name (infer/resource.go:754-807,
// the default v1.2.1 keeps, local/commandController.go:59-64): a secret stdin stays secret in the
// state, but what the command prints of it is plain unless the program lists stdout in
// additionalSecretOutputs (the engine's side).
func TestSecretStdinStaysSecretItsEchoDoesNot(t *testing.T) {
	srv := newRPC(t)
	in := localInputs(t, srv, resource.PropertyMap{"create": str("cat"), "stdin": resource.MakeSecret(str("sentinel")),
		"logging": str("none")})
	if !in["stdin"].IsSecret() {
		t.Fatalf("Check dropped the secret: %v", in)
	}
	resp, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: localURN, Properties: toRPC(t, in)})
	if err != nil {
		t.Fatal(err)
	}
	state := fromRPC(t, resp.Properties)
	if !state["stdin"].IsSecret() || state["stdout"].IsSecret() || state["stdout"].StringValue() != "sentinel" {
		t.Fatalf("state: %v", state)
	}
}

// ignoreChanges on a nested path (the stack's `environment.observed`) is the engine's work:
// infer applies ignoreChanges only to top-level keys (infer/resource.go:1159-1164, 1419-1424:
// property.Map.GetOk(path) looks the whole path up as one key), so the provider still sees the
// nested change; the engine puts the old value into the new inputs before it asks.
func TestIgnoreChangesOfANestedPathIsTheEngines(t *testing.T) {
	srv := newRPC(t)
	env := func(observed string) resource.PropertyMap {
		return localInputs(t, srv, resource.PropertyMap{"create": str("true"), "environment": resource.NewObjectProperty(
			resource.PropertyMap{"host": str("sync-1"), "observed": str(observed)})})
	}
	olds, news := env("in sync"), env("drifted")
	for _, tc := range []struct {
		ignore  []string
		changes rpc.DiffResponse_DiffChanges
	}{
		{nil, rpc.DiffResponse_DIFF_SOME},
		{[]string{"environment.observed"}, rpc.DiffResponse_DIFF_SOME},
		{[]string{"environment"}, rpc.DiffResponse_DIFF_NONE},
	} {
		d, err := srv.Diff(context.Background(), &rpc.DiffRequest{Id: "probe", Urn: localURN, Olds: toRPC(t, olds),
			OldInputs: toRPC(t, olds), News: toRPC(t, news), IgnoreChanges: tc.ignore})
		if err != nil || d.Changes != tc.changes {
			t.Errorf("ignoreChanges %v: %v %v, want %v", tc.ignore, err, d, tc.changes)
		}
	}
}

// The remote resources are not served, but the steps a stack of the earlier layout holds are
// deleted as v1.2.1 deletes them (remote/commandController.go:86-92): without connecting anywhere
// when they have no `delete` command (a CopyToRemote never has one). A `delete` command is refused:
// the stand-in has no SSH client to run it. Every other operation on them is NotFound
// (pulumi-go-provider's middleware/dispatch/dispatch.go:65-67).
func TestEarlierRemoteStepsAreDeletedWithoutConnecting(t *testing.T) {
	srv := newRPC(t)
	for _, token := range []string{"remote:Command", "remote:CopyToRemote"} {
		urn := "urn:pulumi:test::test::command:" + token + "::old"
		state := resource.PropertyMap{
			"connection": resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
				"host": resource.NewStringProperty("203.0.113.1"), // nothing listens there: a dial would fail
			})),
			"create": resource.NewStringProperty("true"),
		}
		if _, err := srv.Delete(context.Background(), &rpc.DeleteRequest{Id: "old", Urn: urn, Properties: toRPC(t, state)}); err != nil {
			t.Errorf("delete %s without a delete command: %v", token, err)
		}
		_, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: urn, Properties: toRPC(t, state)})
		if want := "Resource '" + token + "' not found"; status.Code(err) != codes.NotFound || errorText(err) != want {
			t.Errorf("create %s: %v, want NotFound %q", token, err, want)
		}
	}
	urn := "urn:pulumi:test::test::command:remote:Command::old"
	state := resource.PropertyMap{"delete": resource.NewStringProperty("rm -rf /var/sync")}
	_, err := srv.Delete(context.Background(), &rpc.DeleteRequest{Id: "old", Urn: urn, Properties: toRPC(t, state)})
	if want := "the sync-release stand-in cannot run the remote delete command of old"; err == nil || errorText(err) != want {
		t.Errorf("delete with a delete command: %v, want %q", err, want)
	}
}
