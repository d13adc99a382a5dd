// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.

package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"

	"github.com/gobwas/glob"
	"github.com/pulumi/pulumi-go-provider/infer/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// lockedWriter lets the stdout and stderr copiers append to one combined buffer
// (v1.2.1 util.ConcurrentWriter, util/util.go:62-71).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// run runs command as v1.2.1 local/commandOutputs.go:39-146 does:
//   - `interpreter` followed by the command, default ["/bin/sh", "-c"] (also for an empty
//     list), started with exec.CommandContext and the standard library's defaults: when ctx
//     ends (the engine's customTimeouts, or its Cancel, through pulumi-go-provider's
//     middleware/cancel) the direct child is killed (SIGKILL) and nothing else; Wait then
//     waits for the stdout/stderr copies, so a grandchild that holds either stream keeps the
//     step waiting until it exits or closes it;
//   - in `dir`, else the plugin's working directory;
//   - the plugin's own environment, then `environment`, then (addPreviousOutputInEnv unset or
//     true) the previous stdout/stderr as PULUMI_COMMAND_STDOUT/_STDERR when non-empty; a
//     name given twice takes the later value (os/exec keeps the last);
//   - stdin only when non-empty (otherwise the null device);
//   - the streams logged per `logging` through one pipe read by logLines: a line over
//     64 KiB stops that reader, the next write blocks, and the command never returns;
//   - on failure: "<exec error>: running "<command>":\n<stdout and stderr as they came>", and
//     out keeps the previous outputs;
//   - on success: assetPaths → assets, archivePaths → archive, then stdout/stderr with one
//     trailing newline trimmed.
func run(ctx context.Context, command string, in BaseInputs, out *BaseOutputs, logging *Logging) error {
	args := []string{"/bin/sh", "-c"}
	if in.Interpreter != nil && len(*in.Interpreter) > 0 {
		args = append([]string{}, *in.Interpreter...)
	}
	args = append(args, command)

	var stdout, stderr, combined bytes.Buffer
	both := &lockedWriter{w: &combined}
	r, w := io.Pipe()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	outWriters := []io.Writer{&stdout, both}
	if logging.logsStdout() {
		outWriters = append(outWriters, w)
	}
	cmd.Stdout = io.MultiWriter(outWriters...)
	errWriters := []io.Writer{&stderr, both}
	if logging.logsStderr() {
		errWriters = append(errWriters, w)
	}
	cmd.Stderr = io.MultiWriter(errWriters...)

	var err error
	if in.Dir != nil {
		cmd.Dir = *in.Dir
	} else if cmd.Dir, err = os.Getwd(); err != nil {
		return err
	}
	cmd.Env = os.Environ()
	if in.Environment != nil {
		for k, v := range *in.Environment {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if in.AddPreviousOutputInEnv == nil || *in.AddPreviousOutputInEnv {
		if out.Stdout != "" {
			cmd.Env = append(cmd.Env, envPreviousStdout+"="+out.Stdout)
		}
		if out.Stderr != "" {
			cmd.Env = append(cmd.Env, envPreviousStderr+"="+out.Stderr)
		}
	}
	if in.Stdin != nil && len(*in.Stdin) > 0 {
		cmd.Stdin = strings.NewReader(*in.Stdin)
	}

	logged := make(chan struct{})
	go logLines(ctx, r, logged)
	err = cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	w.Close()
	<-logged
	if err != nil {
		return fmt.Errorf("%w: running %q:\n%s", err, command, combined.String())
	}

	if in.AssetPaths != nil {
		assets, err := globAssets(cmd.Dir, *in.AssetPaths)
		if err != nil {
			return err
		}
		out.Assets = &assets
	}
	if in.ArchivePaths != nil {
		assets, err := globAssets(cmd.Dir, *in.ArchivePaths)
		if err != nil {
			return err
		}
		members := map[string]any{}
		for p, a := range assets {
			members[p] = a.Asset
		}
		archive, err := resource.NewAssetArchive(members)
		if err != nil {
			return err
		}
		out.Archive = archive
	}
	out.Stdout = strings.TrimSuffix(stdout.String(), "\n")
	out.Stderr = strings.TrimSuffix(stderr.String(), "\n")
	return nil
}

// globAssets finds the files under dir matching the rules, as v1.2.1
// local/commandOutputs.go:148-191 does: gobwas/glob patterns with '/' as separator, a leading
// '!' excludes, rules applied in order to each file (directories are never included), keys
// relative to dir.
func globAssets(dir string, rules []string) (map[string]*types.AssetOrArchive, error) {
	globs := make([]glob.Glob, len(rules))
	exclude := make([]bool, len(rules))
	for i, rule := range rules {
		exclude[i] = strings.HasPrefix(rule, "!")
		g, err := glob.Compile(strings.TrimPrefix(rule, "!"), '/')
		if err != nil {
			return nil, err
		}
		globs[i] = g
	}
	assets := map[string]*types.AssetOrArchive{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		for i, g := range globs {
			if !g.Match(rel) {
				continue
			}
			if exclude[i] {
				delete(assets, rel)
				continue
			}
			a, err := resource.NewPathAsset(path.Join(dir, rel))
			if err != nil {
				return err
			}
			assets[rel] = &types.AssetOrArchive{Asset: a}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return assets, nil
}
