package local

// Helpers of the local package's tests.

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-go-provider/infer"
)

func ptr[T any](v T) *T { return &v }

type ri = ResourceInputs

// logCapture records every slog message the provider emits (the go-provider logger falls
// back to slog when no engine is attached).
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }
func (l *logCapture) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

func captureLogs(t *testing.T) *logCapture {
	c := &logCapture{}
	old := slog.Default()
	slog.SetDefault(slog.New(c))
	t.Cleanup(func() { slog.SetDefault(old) })
	return c
}

func create(t *testing.T, in CommandInputs) (CommandOutputs, error) {
	t.Helper()
	resp, err := (&Command{}).Create(context.Background(), infer.CreateRequest[CommandInputs]{Name: "cmd", Inputs: in})
	return resp.Output, err
}

func withCreate(cmd string) CommandInputs {
	return CommandInputs{ResourceInputs: ri{Create: &cmd}}
}
