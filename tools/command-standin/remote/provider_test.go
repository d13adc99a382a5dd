package remote

// Provider-level tests over the gRPC surface the engine uses (Check, Diff, Create, Update),
// so replaceOnChanges, secrets and preview come from the pulumi-go-provider infer framework.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	rpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	p "github.com/pulumi/pulumi-go-provider"
)

const (
	commandURN = "urn:pulumi:test::test::command:remote:Command::c"
	copyURN    = "urn:pulumi:test::test::command:remote:CopyToRemote::c"
)

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

func newRPC(t *testing.T) rpc.ResourceProviderServer {
	t.Helper()
	prov, err := NewProvider()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.RawServer("command", "1.2.1", prov)(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Configure(context.Background(), &rpc.ConfigureRequest{AcceptSecrets: true, AcceptResources: true}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func (s *testSSHServer) connProps() resource.PropertyValue {
	return resource.NewObjectProperty(resource.PropertyMap{
		"host":           resource.NewStringProperty("127.0.0.1"),
		"port":           resource.NewNumberProperty(float64(s.Port)),
		"user":           resource.NewStringProperty("test"),
		"privateKey":     resource.NewStringProperty(s.ClientKeyPEM),
		"dialErrorLimit": resource.NewNumberProperty(2),
		"perDialTimeout": resource.NewNumberProperty(5),
	})
}

func check(t *testing.T, srv rpc.ResourceProviderServer, urn string, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := srv.Check(context.Background(), &rpc.CheckRequest{Urn: urn, News: toRPC(t, news), Olds: toRPC(t, resource.PropertyMap{})})
	if err != nil || len(resp.Failures) > 0 {
		t.Fatalf("check: %v %v", err, resp.GetFailures())
	}
	return fromRPC(t, resp.Inputs)
}

func diff(t *testing.T, srv rpc.ResourceProviderServer, urn, id string, state, oldInputs, news resource.PropertyMap) *rpc.DiffResponse {
	t.Helper()
	resp, err := srv.Diff(context.Background(), &rpc.DiffRequest{Id: id, Urn: urn,
		Olds: toRPC(t, state), OldInputs: toRPC(t, oldInputs), News: toRPC(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// replacedByEngine applies the rule the engine applies to a provider's diff: a replace when
// the provider says so, or when a changed path matches the resource's replaceOnChanges
// option, which @pulumi/command 1.2.1 sets to ["triggers[*]"] for both resources
// (node_modules/@pulumi/command/remote/command.js:132, copyToRemote.js:131). Element
// changes inside triggers come back from the infer framework as "triggers[N]": update,
// exactly as they do from the released provider built on the same framework.
func replacedByEngine(d *rpc.DiffResponse) bool {
	if d.Changes != rpc.DiffResponse_DIFF_SOME {
		return false
	}
	if len(d.Replaces) > 0 {
		return true
	}
	for path := range d.DetailedDiff {
		if strings.HasPrefix(path, "triggers[") {
			return true
		}
	}
	return false
}

func TestCommandDiffTriggersReplaceOtherInputsUpdate(t *testing.T) {
	s := startSSHServer(t)
	srv := newRPC(t)
	inputs := func(trigger string, extra resource.PropertyMap) resource.PropertyMap {
		m := resource.PropertyMap{
			"connection": s.connProps(),
			"create":     resource.NewStringProperty("echo hi"),
			"triggers":   resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(trigger)}),
		}
		for k, v := range extra {
			m[k] = v
		}
		return check(t, srv, commandURN, m)
	}
	olds := inputs("v1", nil)
	if !olds["connection"].IsSecret() {
		t.Fatal("connection must be secret after Check")
	}
	// Preview runs nothing.
	if _, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: commandURN, Properties: toRPC(t, olds), Preview: true}); err != nil {
		t.Fatal(err)
	}
	if s.Conns.Load() != 0 {
		t.Fatal("preview dialled the host")
	}
	created, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: commandURN, Properties: toRPC(t, olds)})
	if err != nil {
		t.Fatal(err)
	}
	state := fromRPC(t, created.Properties)
	if !state["connection"].IsSecret() || state["stdout"].StringValue() != "hi" {
		t.Fatalf("state: %v", state)
	}

	if d := diff(t, srv, commandURN, created.Id, state, olds, olds); d.Changes == rpc.DiffResponse_DIFF_SOME {
		t.Fatalf("same inputs: %v", d)
	}
	d := diff(t, srv, commandURN, created.Id, state, olds, inputs("v2", nil))
	if !replacedByEngine(d) || d.DeleteBeforeReplace {
		t.Fatalf("trigger change must replace, create-before-delete: %v", d)
	}
	// Triggers appearing where there were none: the provider itself asks for a replace.
	noTriggers := olds.Copy()
	delete(noTriggers, "triggers")
	stateNoTriggers := state.Copy()
	delete(stateNoTriggers, "triggers")
	if d := diff(t, srv, commandURN, created.Id, stateNoTriggers, noTriggers, olds); len(d.Replaces) == 0 {
		t.Fatalf("triggers added must replace: %v", d)
	}
	for _, extra := range []resource.PropertyMap{
		{"create": resource.NewStringProperty("echo changed")},
		{"environment": resource.NewObjectProperty(resource.PropertyMap{"A": resource.NewStringProperty("b")})},
		{"logging": resource.NewStringProperty("none")},
	} {
		d := diff(t, srv, commandURN, created.Id, state, olds, inputs("v1", extra))
		if d.Changes != rpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
			t.Fatalf("%v must update in place: %v", extra, d)
		}
	}
	conn := s.connProps().ObjectValue().Copy()
	conn["perDialTimeout"] = resource.NewNumberProperty(9)
	d = diff(t, srv, commandURN, created.Id, state, olds, inputs("v1", resource.PropertyMap{"connection": resource.NewObjectProperty(conn)}))
	if d.Changes != rpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
		t.Fatalf("connection change must update in place: %v", d)
	}
}

func copyProps(t *testing.T, s *testSSHServer, src, remotePath string, conn *resource.PropertyValue) resource.PropertyMap {
	t.Helper()
	a, err := asset.FromPath(src)
	if err != nil {
		t.Fatal(err)
	}
	c := s.connProps()
	if conn != nil {
		c = *conn
	}
	return resource.PropertyMap{
		"connection": c,
		"source":     resource.NewAssetProperty(a),
		"remotePath": resource.NewStringProperty(remotePath),
	}
}

func TestCopyToRemoteUpdateCopiesOnlyOnHashOrPathChange(t *testing.T) {
	s := startSSHServer(t)
	srv := newRPC(t)
	local, remote := t.TempDir(), t.TempDir()
	src := filepath.Join(local, "bundle.txt")
	writeFile(t, src, "v1")
	olds := check(t, srv, copyURN, copyProps(t, s, src, filepath.Join(remote, "a.txt"), nil))
	created, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: copyURN, Properties: toRPC(t, olds)})
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(remote, "a.txt")) != "v1" || s.Conns.Load() != 1 {
		t.Fatal("create did not copy once")
	}
	state := fromRPC(t, created.Properties)
	update := func(news resource.PropertyMap) {
		t.Helper()
		d := diff(t, srv, copyURN, created.Id, state, olds, news)
		if d.Changes != rpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
			t.Fatalf("want an in-place update: %v", d)
		}
		if _, err := srv.Update(context.Background(), &rpc.UpdateRequest{Id: created.Id, Urn: copyURN,
			Olds: toRPC(t, state), OldInputs: toRPC(t, olds), News: toRPC(t, news)}); err != nil {
			t.Fatal(err)
		}
	}
	// Only the connection changes: an update, but nothing is copied (not even a dial).
	conn := s.connProps().ObjectValue().Copy()
	conn["perDialTimeout"] = resource.NewNumberProperty(7)
	cv := resource.NewObjectProperty(conn)
	update(check(t, srv, copyURN, copyProps(t, s, src, filepath.Join(remote, "a.txt"), &cv)))
	if s.Conns.Load() != 1 {
		t.Fatal("a connection-only change must not copy")
	}
	// The remote path changes: copied again.
	update(check(t, srv, copyURN, copyProps(t, s, src, filepath.Join(remote, "b.txt"), nil)))
	if s.Conns.Load() != 2 || readFile(t, filepath.Join(remote, "b.txt")) != "v1" {
		t.Fatal("a remotePath change must copy")
	}
	// The content (hash) changes: copied again.
	writeFile(t, src, "v2")
	update(check(t, srv, copyURN, copyProps(t, s, src, filepath.Join(remote, "a.txt"), nil)))
	if s.Conns.Load() != 3 || readFile(t, filepath.Join(remote, "a.txt")) != "v2" {
		t.Fatal("a hash change must copy")
	}
}

func TestCopyToRemoteTriggersReplace(t *testing.T) {
	s := startSSHServer(t)
	srv := newRPC(t)
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, "x")
	in := func(v string) resource.PropertyMap {
		m := copyProps(t, s, src, "/tmp/x", nil)
		m["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty(v)})
		return check(t, srv, copyURN, m)
	}
	olds := in("1")
	d := diff(t, srv, copyURN, "x", olds, olds, in("2"))
	if !replacedByEngine(d) || d.DeleteBeforeReplace {
		t.Fatalf("%v", d)
	}
}

// Check (v1.2.1 remote/copyController.go:72-115): a path-based asset, a text asset or a
// path-based archive; a remote (URI) asset or an archive of assets fails with v1.2.1's reasons.
func TestCopyToRemoteCheckSources(t *testing.T) {
	srv := newRPC(t)
	s := &testSSHServer{Port: 22}
	checkSource := func(source resource.PropertyValue) []*rpc.CheckFailure {
		t.Helper()
		resp, err := srv.Check(context.Background(), &rpc.CheckRequest{Urn: copyURN, Olds: toRPC(t, resource.PropertyMap{}), News: toRPC(t, resource.PropertyMap{
			"connection": s.connProps(), "source": source, "remotePath": resource.NewStringProperty("/tmp/x")})})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Failures
	}
	text, err := asset.FromText("hello")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "f")
	writeFile(t, file, "x")
	path, err := asset.FromPath(file)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := archive.FromPath(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	for name, source := range map[string]resource.PropertyValue{
		"text asset": resource.NewAssetProperty(text), "file asset": resource.NewAssetProperty(path),
		"file archive": resource.NewArchiveProperty(dir),
	} {
		if f := checkSource(source); len(f) != 0 {
			t.Errorf("%s must pass Check: %v", name, f)
		}
	}
	uri, err := asset.FromURI("file://" + file) // a URI asset, though it names a local file
	if err != nil {
		t.Fatal(err)
	}
	if f := checkSource(resource.NewAssetProperty(uri)); len(f) != 1 || f[0].Property != "asset" ||
		f[0].Reason != "asset must be a path-based file asset or a text asset" {
		t.Errorf("URI asset: %v", f)
	}
	assets, err := archive.FromAssets(map[string]any{"a": text})
	if err != nil {
		t.Fatal(err)
	}
	if f := checkSource(resource.NewArchiveProperty(assets)); len(f) != 1 || f[0].Property != "archive" ||
		f[0].Reason != "archive must be a path to a file or directory" {
		t.Errorf("archive of assets: %v", f)
	}
}

// A text asset through the engine's surface: Create writes its text to remotePath.
func TestCopyToRemoteTextAssetCreate(t *testing.T) {
	s := startSSHServer(t)
	srv := newRPC(t)
	text, err := asset.FromText("from a StringAsset\n")
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "new", "note")
	in := check(t, srv, copyURN, resource.PropertyMap{"connection": s.connProps(),
		"source": resource.NewAssetProperty(text), "remotePath": resource.NewStringProperty(dest)})
	if _, err := srv.Create(context.Background(), &rpc.CreateRequest{Urn: copyURN, Properties: toRPC(t, in)}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dest); got != "from a StringAsset\n" {
		t.Fatalf("%q", got)
	}
}
