// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.

package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/infer/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// CopyToRemote is command:remote:CopyToRemote.
type CopyToRemote struct{}

func (c *CopyToRemote) Annotate(a infer.Annotator) {
	a.Describe(&c, "Copy an Asset or Archive to a remote host.\n\n"+
		"Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.")
}

// CopyToRemoteInputs are the inputs (and, unchanged, the outputs) of command:remote:CopyToRemote.
type CopyToRemoteInputs struct {
	Connection *Connection          `pulumi:"connection" provider:"secret"`
	Triggers   *[]any               `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Source     types.AssetOrArchive `pulumi:"source"`
	RemotePath string               `pulumi:"remotePath"`
}

func (c *CopyToRemoteInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Connection, "The parameters with which to connect to the remote host.")
	a.Describe(&c.Triggers, "Trigger replacements on changes to this input.")
	a.Describe(&c.Source, "A path-based asset (FileAsset) or archive (FileArchive) to upload; copied as is, directories recursively.")
	a.Describe(&c.RemotePath, "The destination path on the remote host. Only its last element is created when missing.")
}

func (c *CopyToRemoteInputs) localPath() string {
	if c.Source.Asset != nil {
		return c.Source.Asset.Path
	}
	if c.Source.Archive != nil {
		return c.Source.Archive.Path
	}
	return ""
}

func (c *CopyToRemoteInputs) sourceHash() string {
	if c.Source.Archive != nil {
		return c.Source.Archive.Hash
	}
	if c.Source.Asset != nil {
		return c.Source.Asset.Hash
	}
	return ""
}

// CopyToRemoteOutputs mirror the inputs.
type CopyToRemoteOutputs struct {
	CopyToRemoteInputs
}

var (
	_ infer.CustomResource[CopyToRemoteInputs, CopyToRemoteOutputs] = (*CopyToRemote)(nil)
	_ infer.CustomCheck[CopyToRemoteInputs]                         = (*CopyToRemote)(nil)
	_ infer.CustomUpdate[CopyToRemoteInputs, CopyToRemoteOutputs]   = (*CopyToRemote)(nil)
)

// Check accepts exactly one of asset/archive, and only path-based ones.
func (*CopyToRemote) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[CopyToRemoteInputs], error) {
	inputs, failures, err := infer.DefaultCheck[CopyToRemoteInputs](ctx, req.NewInputs)
	if err != nil {
		return infer.CheckResponse[CopyToRemoteInputs]{Inputs: inputs, Failures: failures}, err
	}
	asset, archive := inputs.Source.Asset, inputs.Source.Archive
	fail := func(prop, reason string) {
		failures = append(failures, p.CheckFailure{Property: prop, Reason: reason})
	}
	switch {
	case asset != nil && archive != nil:
		fail("asset", "only one of asset or archive can be set")
	case asset == nil && archive == nil:
		fail("asset", "either asset or archive must be set")
	}
	if asset != nil && !asset.IsPath() {
		fail("asset", "asset must be a path-based file asset")
	}
	if archive != nil && !archive.IsPath() {
		fail("archive", "archive must be a path to a file or directory")
	}
	return infer.CheckResponse[CopyToRemoteInputs]{Inputs: inputs, Failures: failures}, nil
}

// Create copies the source; nothing happens during preview.
func (*CopyToRemote) Create(ctx context.Context, req infer.CreateRequest[CopyToRemoteInputs]) (infer.CreateResponse[CopyToRemoteOutputs], error) {
	out := CopyToRemoteOutputs{req.Inputs}
	if req.DryRun {
		return infer.CreateResponse[CopyToRemoteOutputs]{Output: out}, nil
	}
	if err := copyToRemote(ctx, req.Inputs); err != nil {
		return infer.CreateResponse[CopyToRemoteOutputs]{Output: out}, err
	}
	id, err := resource.NewUniqueHex("", 8, 0)
	return infer.CreateResponse[CopyToRemoteOutputs]{ID: id, Output: out}, err
}

// Update copies again only when the source's hash or the remote path changed.
func (*CopyToRemote) Update(ctx context.Context, req infer.UpdateRequest[CopyToRemoteInputs, CopyToRemoteOutputs]) (infer.UpdateResponse[CopyToRemoteOutputs], error) {
	out := CopyToRemoteOutputs{req.Inputs}
	if req.DryRun {
		return infer.UpdateResponse[CopyToRemoteOutputs]{Output: out}, nil
	}
	if !NeedsCopy(req.State.CopyToRemoteInputs, req.Inputs) {
		return infer.UpdateResponse[CopyToRemoteOutputs]{Output: out}, nil
	}
	return infer.UpdateResponse[CopyToRemoteOutputs]{Output: out}, copyToRemote(ctx, req.Inputs)
}

// NeedsCopy reports whether an update has to copy again.
func NeedsCopy(olds, news CopyToRemoteInputs) bool {
	return olds.sourceHash() != news.sourceHash() || olds.RemotePath != news.RemotePath
}

func copyToRemote(ctx context.Context, in CopyToRemoteInputs) error {
	src := in.localPath()
	if in.Connection != nil {
		p.GetLogger(ctx).Debugf("Creating file: %s:%s from local file %s", in.Connection.host(), in.RemotePath, src)
	}
	client, err := in.Connection.Dial(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	sc, err := sftp.NewClient(client, sftp.UseConcurrentWrites(true))
	if err != nil {
		return err
	}
	defer sc.Close()
	return CopyPath(sc, src, in.RemotePath)
}

// statRemote returns nil, nil when path does not exist.
func statRemote(sc *sftp.Client, p string) (fs.FileInfo, error) {
	info, err := sc.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("failed to stat remote path %s: %w", p, err)
	}
	return info, nil
}

func mkdirIfMissing(sc *sftp.Client, dir string) error {
	info, err := statRemote(sc, dir)
	if err != nil {
		return err
	}
	if info == nil {
		if err := sc.Mkdir(dir); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", dir, err)
		}
		return nil
	}
	if !info.IsDir() {
		return fmt.Errorf("remote path %s exists but is not a directory", dir)
	}
	return nil
}

// CopyPath copies a local file or directory to dest over SFTP:
//
//	source | dest is a dir     | dest missing     | dest is a file
//	dir    | dest/dir          | dest/dir         | error
//	dir/   | dest/<contents>   | dest/<contents>  | error
//	file   | dest/file         | dest             | dest, overwritten
//
// Only the last element of dest is created; missing parents are an error.
func CopyPath(sc *sftp.Client, src, dest string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	destInfo, err := statRemote(sc, dest)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if destInfo != nil && destInfo.IsDir() {
			dest = path.Join(dest, filepath.Base(src))
		}
		return uploadFile(sc, src, dest)
	}
	if destInfo == nil {
		if err := sc.Mkdir(dest); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", dest, err)
		}
	}
	if !strings.HasSuffix(src, "/") {
		// Created (if missing) by the walk's first step, ".".
		dest = path.Join(dest, filepath.Base(src))
	}
	return fs.WalkDir(os.DirFS(src), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := path.Join(dest, filepath.ToSlash(rel))
		if d.IsDir() {
			return mkdirIfMissing(sc, target)
		}
		return uploadFile(sc, filepath.Join(src, rel), target)
	})
}

func uploadFile(sc *sftp.Client, src, dst string) error {
	local, err := os.Open(src)
	if err != nil {
		return err
	}
	defer local.Close()
	remote, err := sc.Create(dst)
	if err != nil {
		return fmt.Errorf("failed to create remote file %s: %w", dst, err)
	}
	defer remote.Close()
	if _, err := remote.ReadFrom(local); err != nil {
		return fmt.Errorf("failed to copy file %s to remote path %s: %w", src, dst, err)
	}
	return nil
}
