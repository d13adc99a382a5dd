// Stand-in for pulumi-command v1.2.1, built by sync-release for tests and the local demo.
// Each function names the v1.2.1 lines (provider/pkg/provider/remote/) it follows.

package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// CopyToRemoteInputs are the inputs (and, unchanged, the outputs) of command:remote:CopyToRemote
// (v1.2.1 remote/copy.go:36-41).
type CopyToRemoteInputs struct {
	Connection *Connection          `pulumi:"connection" provider:"secret"`
	Triggers   *[]any               `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Source     types.AssetOrArchive `pulumi:"source"`
	RemotePath string               `pulumi:"remotePath"`
}

func (c *CopyToRemoteInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Connection, "The parameters with which to connect to the remote host.")
	a.Describe(&c.Triggers, "Trigger replacements on changes to this input.")
	a.Describe(&c.Source, "An asset or an archive to upload as the source of the copy. It must be a `FileAsset`, "+
		"`StringAsset`, or a `FileArchive`. The item will be copied as-is; archives like .tgz will not be unpacked. "+
		"Directories are copied recursively, overwriting existing files.")
	a.Describe(&c.RemotePath, "The destination path on the remote host. Any necessary parent directories will be created automatically. "+
		"When the remote path is an existing directory, the source file or directory will be copied into that directory. "+
		"When the source is a file and the remote path is an existing file, that file will be overwritten. "+
		"When the source is a directory and the remote path an existing file, the copy will fail.")
}

// sourcePath, isTextAsset, hash: v1.2.1 remote/copy.go:57-82.
func (c *CopyToRemoteInputs) sourcePath() string {
	if c.Source.Asset != nil {
		return c.Source.Asset.Path
	}
	return c.Source.Archive.Path
}

func (c *CopyToRemoteInputs) isTextAsset() bool {
	return c.Source.Asset != nil && c.Source.Asset.IsText()
}

func (c *CopyToRemoteInputs) hash() string {
	if c.Source.Archive != nil {
		return c.Source.Archive.Hash
	}
	return c.Source.Asset.Hash
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

// Check accepts exactly one of asset/archive: a path-based asset or a text asset
// (StringAsset), or a path-based archive (v1.2.1 remote/copyController.go:72-115).
func (*CopyToRemote) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[CopyToRemoteInputs], error) {
	inputs, failures, err := infer.DefaultCheck[CopyToRemoteInputs](ctx, req.NewInputs)
	if err != nil {
		return infer.CheckResponse[CopyToRemoteInputs]{Inputs: inputs, Failures: failures}, err
	}
	asset, archive := inputs.Source.Asset, inputs.Source.Archive
	fail := func(prop, reason string) {
		failures = append(failures, p.CheckFailure{Property: prop, Reason: reason})
	}
	if asset != nil && archive != nil {
		fail("asset", "only one of asset or archive can be set")
	}
	if asset == nil && archive == nil {
		fail("asset", "either asset or archive must be set")
	}
	if asset != nil && !asset.IsPath() && !asset.IsText() {
		fail("asset", "asset must be a path-based file asset or a text asset")
	}
	if archive != nil && !archive.IsPath() {
		fail("archive", "archive must be a path to a file or directory")
	}
	return infer.CheckResponse[CopyToRemoteInputs]{Inputs: inputs, Failures: failures}, nil
}

// Create copies the source; nothing happens during preview (v1.2.1 remote/copyController.go:118-135).
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

// Update copies again only when the source's hash or the remote path changed; a change of
// the connection alone dials nothing (v1.2.1 remote/copyController.go:137-154).
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

// NeedsCopy reports whether an update has to copy again (v1.2.1 remote/copyController.go:148).
func NeedsCopy(olds, news CopyToRemoteInputs) bool {
	return news.hash() != olds.hash() || news.RemotePath != olds.RemotePath
}

// copyToRemote dials, opens SFTP (concurrent writes) and copies; the SSH client is closed
// afterwards, unlike a command's (v1.2.1 remote/copyController.go:157-191).
func copyToRemote(ctx context.Context, in CopyToRemoteInputs) error {
	text := in.isTextAsset()
	if text {
		p.GetLogger(ctx).Debugf("Creating file: %s:%s from text asset", *in.Connection.Host, in.RemotePath)
	} else {
		p.GetLogger(ctx).Debugf("Creating file: %s:%s from local file %s", *in.Connection.Host, in.RemotePath, in.sourcePath())
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
	if text {
		return CopyText(sc, in.Source.Asset.Text, in.RemotePath)
	}
	return CopyPath(sc, in.sourcePath(), in.RemotePath)
}

// statRemote returns nil, nil when path does not exist (v1.2.1 remote/copyController.go:194-201).
func statRemote(sc *sftp.Client, path string) (fs.FileInfo, error) {
	info, err := sc.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("failed to stat remote path %s: %w", path, err)
	}
	return info, nil
}

// CopyText writes a text asset's content to dest, a file path: an existing directory there
// is an error; missing parent directories are created (v1.2.1 remote/copyController.go:34-62).
func CopyText(sc *sftp.Client, content, dest string) error {
	info, err := statRemote(sc, dest)
	if err != nil {
		return err
	}
	if info != nil && info.IsDir() {
		return fmt.Errorf("remote path %s is a directory; when using a text asset, remotePath must be a file path", dest)
	}
	if err := sc.MkdirAll(filepath.Dir(dest)); err != nil {
		return fmt.Errorf("failed to create parent directories for %s: %w", dest, err)
	}
	f, err := sc.Create(dest)
	if err != nil {
		return fmt.Errorf("failed to create remote file %s: %w", dest, err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(content)); err != nil {
		return fmt.Errorf("failed to write text content to remote path %s: %w", dest, err)
	}
	return nil
}

// CopyPath copies a local file or directory to dest over SFTP, as v1.2.1
// remote/copyController.go:203-269 does:
//
//	source | dest is a dir     | dest missing                     | dest is a file
//	dir    | dest/dir          | dest (with parents), dest/dir    | error
//	dir/   | dest/<contents>   | dest (with parents), contents    | error
//	file   | dest/file         | parents created, dest            | dest, overwritten
//
// Missing parent directories are created (sftp MkdirAll: as the SSH user, default modes).
func CopyPath(sc *sftp.Client, src, dest string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	destInfo, err := statRemote(sc, dest)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if destInfo != nil && destInfo.IsDir() {
			dest = filepath.Join(dest, filepath.Base(src))
		} else if destInfo == nil {
			if err := sc.MkdirAll(filepath.Dir(dest)); err != nil {
				return fmt.Errorf("failed to create parent directories for %s: %w", dest, err)
			}
		}
		return uploadFile(sc, src, dest)
	}
	if destInfo == nil {
		if err := sc.MkdirAll(dest); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", dest, err)
		}
	}
	if !strings.HasSuffix(src, "/") {
		dest = filepath.Join(dest, filepath.Base(src))
		sub, err := statRemote(sc, dest)
		if err != nil {
			return err
		}
		if sub != nil && !sub.IsDir() {
			return fmt.Errorf("remote path %s exists but is not a directory", dest)
		}
		if sub == nil {
			if err := sc.Mkdir(dest); err != nil {
				return fmt.Errorf("failed to create remote directory %s: %w", dest, err)
			}
		}
	}
	return copyDir(sc, src, dest)
}

// uploadFile: v1.2.1 remote/copyController.go:271-289.
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

// copyDir walks src and copies it into dst, one file at a time; a directory that exists as a
// file is an error (v1.2.1 remote/copyController.go:293-320).
func copyDir(sc *sftp.Client, src, dst string) error {
	return fs.WalkDir(os.DirFS(src), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if !d.IsDir() {
			return uploadFile(sc, filepath.Join(src, rel), target)
		}
		info, err := statRemote(sc, target)
		if err != nil {
			return err
		}
		if info == nil {
			if err := sc.Mkdir(target); err != nil {
				return fmt.Errorf("failed to create remote directory %s: %w", target, err)
			}
		} else if !info.IsDir() {
			return fmt.Errorf("remote path %s exists but is not a directory", target)
		}
		return nil
	})
}
