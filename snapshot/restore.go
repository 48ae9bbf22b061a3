package snapshot

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// restoreParallel is how many chunks RestoreFiles fetches at once.
const restoreParallel = 4

// RestoreFiles rebuilds the snapshot m into dataDir, which must not exist
// or be an empty directory. The files are written into a temporary sibling
// (dataDir.tmp-*) and renamed to dataDir only when every chunk matched its
// name and every file its size and SHA-256; on error nothing is left there
// and dataDir is as it was.
//
// m is validated first (segments.SnapshotManifest.Validate): no path or
// symlink may lead outside dataDir. Writes then go through an os.Root of the
// temporary directory, files are created with O_EXCL and symlinks are made
// last, so the restore never writes through a link, its own or anyone's.
func RestoreFiles(ctx context.Context, st backends.Store, m Manifest, dataDir string) error {
	return RestoreFilesWith(ctx, st, m, dataDir, RestoreOptions{})
}

// RestoreOptions tune RestoreFilesWith.
type RestoreOptions struct {
	// Identities open an encrypted snapshot: m must have been loaded with
	// them (LoadWith), and they open the store's key record for the
	// manifest's chunk secret, whose namer checks every chunk's name. A
	// store without that record (keys/ lost or not copied) still
	// restores: the chunks open and every file is checked against its
	// SHA-256, the names are not.
	Identities []*crypt.Identity
}

// RestoreFilesWith is RestoreFiles for a snapshot that may be encrypted.
// An encrypted manifest that was not opened, or a key record no identity
// opens, fails with an error matching crypt.ErrNoIdentity naming the
// recipients, before anything is written.
func RestoreFilesWith(ctx context.Context, st backends.Store, m Manifest, dataDir string, o RestoreOptions) error {
	if err := restoreFiles(ctx, st, m, dataDir, restoreOptions{parallel: restoreParallel, ids: o.Identities}); err != nil {
		return fmt.Errorf("restore snapshot %s into %s: %w", m.Key(), dataDir, err)
	}
	return nil
}

type restoreOptions struct {
	parallel     int
	ids          []*crypt.Identity
	skipValidate bool // tests: show that the os.Root still holds a hostile manifest
}

// chunkOptions returns how m's chunks are read: plain, or opened with ids
// and named by the namer of m's key record.
func chunkOptions(ctx context.Context, st backends.Store, m Manifest, ids []*crypt.Identity) (segments.ChunkOptions, error) {
	enc := m.Encryption
	if enc == nil {
		return segments.ChunkOptions{}, nil
	}
	if !enc.Opened {
		return segments.ChunkOptions{}, fmt.Errorf("manifest: %w", &crypt.NoIdentityError{Recorded: slices.Clone(enc.Recipients), Given: crypt.IdentityFingerprints(ids)})
	}
	namer, err := Namer(ctx, st, enc.SecretID, ids)
	switch {
	case errors.Is(err, ErrNoKeyRecord):
		// The chunks still open and each file is checked against the
		// SHA-256 its sealed manifest records; only the names go unchecked
		// (verify reports the missing record).
		return segments.ChunkOptions{Identities: ids}, nil
	case err != nil:
		return segments.ChunkOptions{}, err
	}
	return segments.ChunkOptions{Identities: ids, Namers: []*crypt.ChunkNamer{namer}}, nil
}

func restoreFiles(ctx context.Context, st backends.Store, m Manifest, dataDir string, o restoreOptions) (err error) {
	co, err := chunkOptions(ctx, st, m, o.ids)
	if err != nil {
		return err
	}
	if !o.skipValidate {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
		}
	}
	dst, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err := checkTarget(dst); err != nil {
		return err
	}
	parent := filepath.Dir(dst)
	// Parents it creates are owner-only; the files and dirs restored keep
	// the modes the manifest recorded (the database's own).
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("create parent of %s: %w", dst, err)
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			removeTree(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	r := &restorer{st: st, m: m, root: root, co: co}
	if err := r.create(ctx); err != nil {
		return err
	}
	if err := r.fill(ctx, o.parallel); err != nil {
		return err
	}
	if err := r.finish(); err != nil {
		return err
	}
	// os.Rename never replaces a directory: remove the empty one checked
	// above (Remove fails if something appeared in it meanwhile).
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace the empty %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("move the restored files into place: %w", err)
	}
	return syncDir(parent)
}

// checkTarget accepts a missing path or an empty directory (which the
// rename replaces).
func checkTarget(dst string) error {
	fi, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrDataDirNotEmpty, dst)
	}
	names, err := os.ReadDir(dst)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: %s holds %d entries; restore into a new or empty directory", ErrDataDirNotEmpty, dst, len(names))
	}
	return nil
}

type restorer struct {
	st   backends.Store
	m    Manifest
	root *os.Root
	co   segments.ChunkOptions
}

func osPath(p string) string { return filepath.FromSlash(p) }

// create makes every directory (owner-writable for now) and every file
// (empty, O_EXCL), in manifest order: parents first.
func (r *restorer) create(ctx context.Context) error {
	for _, f := range r.m.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch f.Type {
		case segments.TypeDir:
			if err := r.root.Mkdir(osPath(f.Path), 0o700); err != nil {
				return fmt.Errorf("create dir %s: %w", f.Path, err)
			}
		case segments.TypeFile:
			h, err := r.root.OpenFile(osPath(f.Path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("create file %s: %w", f.Path, err)
			}
			if err := h.Close(); err != nil {
				return fmt.Errorf("create file %s: %w", f.Path, err)
			}
		}
	}
	return nil
}

// fill fetches every chunk, checks it and writes it at its offset; the
// goroutine that writes a file's last chunk checks the whole file.
func (r *restorer) fill(ctx context.Context, parallel int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	cs := r.m.ChunkSize
	var files int64
	var finished atomic.Int64
	finish := func(f *segments.SnapshotFile) error {
		if err := r.finishFile(f); err != nil {
			return err
		}
		finished.Add(1)
		return nil
	}
	for i := range r.m.Files {
		f := &r.m.Files[i]
		if f.Type != segments.TypeFile {
			continue
		}
		files++
		if len(f.Chunks) == 0 {
			g.Go(func() error { return finish(f) })
			continue
		}
		left := new(atomic.Int64)
		left.Store(int64(len(f.Chunks)))
		for j, d := range f.Chunks {
			if gctx.Err() != nil {
				break
			}
			off := int64(j) * cs
			want := min(cs, f.Size-off)
			g.Go(func() error {
				if err := r.writeChunk(gctx, f, d, off, want); err != nil {
					return err
				}
				if left.Add(-1) == 0 {
					return finish(f)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if n := finished.Load(); n != files { // a cancel between tasks skipped some
		return fmt.Errorf("restored %d of %d files", n, files)
	}
	return nil
}

func (r *restorer) writeChunk(ctx context.Context, f *segments.SnapshotFile, d segments.Digest, off, want int64) error {
	key := segments.ChunkKey(d)
	rc, err := r.st.Get(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("fetch chunk %s of %s: %w", key, f.Path, err)
	}
	_, raw, err := segments.ReadChunkWith(bufio.NewReaderSize(rc, 256<<10), d, r.co)
	rc.Close()
	if err != nil {
		return fmt.Errorf("chunk %s of %s: %w", key, f.Path, err)
	}
	if int64(len(raw)) != want {
		return fmt.Errorf("chunk %s of %s: %w: %d bytes, the file needs %d at offset %d", key, f.Path, ErrCorrupt, len(raw), want, off)
	}
	h, err := r.root.OpenFile(osPath(f.Path), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if _, err := h.WriteAt(raw, off); err != nil {
		h.Close()
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	return nil
}

// finishFile reads a written file back, checks its size and SHA-256, syncs
// it and gives it its mode.
func (r *restorer) finishFile(f *segments.SnapshotFile) error {
	h, err := r.root.OpenFile(osPath(f.Path), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("check %s: %w", f.Path, err)
	}
	defer h.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, h)
	if err != nil {
		return fmt.Errorf("check %s: %w", f.Path, err)
	}
	if n != f.Size {
		return fmt.Errorf("file %s: %w: restored %d bytes, the manifest says %d", f.Path, ErrCorrupt, n, f.Size)
	}
	var got segments.Digest
	copy(got[:], sum.Sum(nil))
	if got != f.SHA256 {
		return fmt.Errorf("file %s: %w: restored content hashes to %s, the manifest says %s", f.Path, ErrCorrupt, got, f.SHA256)
	}
	if err := h.Chmod(fs.FileMode(f.Mode)); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Path, err)
	}
	if err := h.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", f.Path, err)
	}
	return h.Close()
}

// finish makes the symlinks, then gives every directory its mode and syncs
// it, children before parents (reverse manifest order), the root last.
func (r *restorer) finish() error {
	for _, f := range r.m.Files {
		if f.Type == segments.TypeSymlink {
			if err := r.root.Symlink(filepath.FromSlash(f.Target), osPath(f.Path)); err != nil {
				return fmt.Errorf("symlink %s: %w", f.Path, err)
			}
		}
	}
	for i := len(r.m.Files) - 1; i >= 0; i-- {
		if f := r.m.Files[i]; f.Type == segments.TypeDir {
			if err := r.finishDir(f.Path, f.Mode); err != nil {
				return err
			}
		}
	}
	return r.finishDir(".", r.m.RootMode)
}

func (r *restorer) finishDir(p string, mode uint32) error {
	d, err := r.root.Open(osPath(p))
	if err != nil {
		return fmt.Errorf("dir %s: %w", p, err)
	}
	defer d.Close()
	if fi, err := d.Stat(); err != nil || !fi.IsDir() {
		return fmt.Errorf("dir %s: not a directory (%v)", p, err)
	}
	if err := d.Chmod(fs.FileMode(mode)); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", p, err)
	}
	return d.Close()
}
