package local

// command:local:Command's create, update and delete as v1.2.1
// provider/pkg/provider/local/commandController.go runs them.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-go-provider/infer"
)

func TestPreviewAndUnsetCreateRunNothing(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	resp, err := (&Command{}).Create(context.Background(), infer.CreateRequest[CommandInputs]{
		Name: "c", Inputs: withCreate("touch " + marker), DryRun: true})
	if err != nil || resp.ID == "" || !strings.HasPrefix(resp.ID, "c") {
		t.Fatalf("preview: id %q, err %v", resp.ID, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("preview ran the command")
	}
	resp, err = (&Command{}).Create(context.Background(), infer.CreateRequest[CommandInputs]{Name: "c", Inputs: CommandInputs{}})
	if err != nil || resp.ID == "" || resp.Output.Stdout != "" {
		t.Fatalf("create unset: %v %+v", err, resp)
	}
	upd, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{
		Inputs: withCreate("touch " + marker), State: CommandOutputs{BaseOutputs: BaseOutputs{Stdout: "old"}}, DryRun: true})
	if err != nil || upd.Output.Stdout != "old" {
		t.Fatalf("update preview: %v %q", err, upd.Output.Stdout)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("update preview ran the command")
	}
}

func TestUpdateRunsUpdateElseCreateElseNothing(t *testing.T) {
	update := func(in CommandInputs) CommandOutputs {
		t.Helper()
		resp, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{
			Inputs: in, State: CommandOutputs{BaseOutputs: BaseOutputs{Stdout: "old-out", Stderr: "old-err"}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Output
	}
	if got := update(CommandInputs{ResourceInputs: ri{Create: ptr("echo c"), Update: ptr("echo u")}}); got.Stdout != "u" {
		t.Fatalf("update set: %q", got.Stdout)
	}
	if got := update(withCreate("echo c")); got.Stdout != "c" || got.Stderr != "" {
		t.Fatalf("update unset: %q %q", got.Stdout, got.Stderr)
	}
	if got := update(CommandInputs{}); got.Stdout != "old-out" || got.Stderr != "old-err" {
		t.Fatalf("neither set: outputs must stay: %+v", got.BaseOutputs)
	}
}

func TestFailedUpdateKeepsPreviousOutputs(t *testing.T) {
	resp, err := (&Command{}).Update(context.Background(), infer.UpdateRequest[CommandInputs, CommandOutputs]{
		Inputs: withCreate("echo new; exit 1"), State: CommandOutputs{BaseOutputs: BaseOutputs{Stdout: "old"}}})
	if err == nil || resp.Output.Stdout != "old" {
		t.Fatalf("err %v, stdout %q", err, resp.Output.Stdout)
	}
}

func TestDeleteRunsDeleteOnlyIfSet(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "deleted")
	state := CommandOutputs{CommandInputs: withCreate("touch " + marker)}
	if _, err := (&Command{}).Delete(context.Background(), infer.DeleteRequest[CommandOutputs]{State: state}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("delete ran create")
	}
	state.Delete = ptr(`test "$PULUMI_COMMAND_STDOUT" = prev && touch ` + marker)
	state.Stdout = "prev"
	if _, err := (&Command{}).Delete(context.Background(), infer.DeleteRequest[CommandOutputs]{State: state}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("delete did not run, or without the previous stdout")
	}
}
