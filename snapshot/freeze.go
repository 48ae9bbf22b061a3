package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// stagingPrefix names Freeze's staging dirs inside the state dir.
const stagingPrefix = "snapshot-staging-"

// Freeze captures a snapshot as a hard-link copy of DataDir:
//
//	FreezeCmd (optional)  -> the database stops writing
//	link every file into STATE/snapshot-staging-*, recreate dirs, copy symlinks;
//	                         record each file's size and mtime as linked
//	Index()               -> the WAL index the copy contains
//	ThawCmd (optional)    -> the database writes again
//	upload from the staging dir, checking every file against its record
//	remove the staging dir
//
// A link shares the file's inode, so the copy costs no data and the freeze
// lasts only as long as the linking. A database that replaces files by
// rename leaves the linked inodes alone; one that modifies a linked file in
// place after the thaw changes the copy too, which the upload detects by
// size and modification time: the snapshot is discarded (no manifest) and
// ErrModifiedDuringSnapshot names the file, so the caller retries. Changes
// that keep both size and mtime (within the filesystem's timestamp
// resolution) cannot be seen; databases with in-place writes should use
// Command.
//
// StateDir must be on DataDir's filesystem (hard links) and not inside it.
// One Freeze per StateDir at a time: staging dirs a crashed run left behind
// are removed when the next one starts.
type Freeze struct {
	DataDir   string
	StateDir  string
	FreezeCmd []string
	ThawCmd   []string
	// Index returns the WAL index the data dir contains; it is called
	// after the linking, before the thaw. Required.
	Index func() uint64
}

// Snapshot takes the snapshot and uploads it (see Upload). A thaw command
// that fails stops it with ErrThaw: the database may still be frozen.
func (f Freeze) Snapshot(ctx context.Context, st backends.Store, o Options) (Manifest, Stats, error) {
	start := time.Now()
	o, err := o.withDefaults()
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	o.method = segments.MethodFreeze
	dataDir, stateDir, err := f.dirs()
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	if o.Detail == "" {
		o.Detail = "hard-link copy of " + dataDir
	}
	staging, err := newStaging(stateDir, o)
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	defer func() {
		if err := removeTree(staging); err != nil {
			o.Logger.Warn("snapshot: could not remove the staging dir", "dir", staging, "err", err)
		}
	}()
	t, index, err := f.link(ctx, dataDir, staging, o)
	if err != nil {
		return Manifest{}, Stats{Elapsed: time.Since(start)}, fmt.Errorf("snapshot %s: %w", dataDir, err)
	}
	if o.afterLink != nil {
		o.afterLink(staging)
	}
	m, stats, err := upload(ctx, st, staging, t, index, o)
	stats.Elapsed = time.Since(start)
	return m, stats, err
}

func (f Freeze) dirs() (dataDir, stateDir string, err error) {
	if f.Index == nil {
		return "", "", errors.New("freeze snapshot: no Index func")
	}
	if f.StateDir == "" {
		return "", "", errors.New("freeze snapshot: no state dir")
	}
	if dataDir, err = resolveDir(f.DataDir); err != nil {
		return "", "", fmt.Errorf("data dir %s: %w", f.DataDir, err)
	}
	if err := os.MkdirAll(f.StateDir, 0o700); err != nil {
		return "", "", fmt.Errorf("state dir %s: %w", f.StateDir, err)
	}
	if stateDir, err = resolveDir(f.StateDir); err != nil {
		return "", "", fmt.Errorf("state dir %s: %w", f.StateDir, err)
	}
	if within(stateDir, dataDir) {
		return "", "", fmt.Errorf("state dir %s is inside the data dir %s: the snapshot would copy itself; move the state dir", stateDir, dataDir)
	}
	return dataDir, stateDir, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// newStaging removes staging dirs a crashed run left and makes a new one.
func newStaging(stateDir string, o Options) (string, error) {
	old, _ := filepath.Glob(filepath.Join(stateDir, stagingPrefix+"*"))
	for _, p := range old {
		o.Logger.Info("snapshot: removing a staging dir left by an earlier run", "dir", p)
		if err := removeTree(p); err != nil {
			return "", fmt.Errorf("remove old staging dir: %w", err)
		}
	}
	dir, err := os.MkdirTemp(stateDir, stagingPrefix)
	if err != nil {
		return "", fmt.Errorf("staging dir: %w", err)
	}
	return dir, nil
}

// link runs freeze, links the tree, asks for the index and runs thaw. Thaw
// runs whenever freeze was tried, even if it or the linking failed.
func (f Freeze) link(ctx context.Context, dataDir, staging string, o Options) (t tree, index uint64, err error) {
	if len(f.FreezeCmd) > 0 {
		if _, err := runCommand(ctx, "freeze", f.FreezeCmd); err != nil {
			return t, 0, errors.Join(err, f.thaw(ctx))
		}
	}
	t, err = walkTree(dataDir, len(f.FreezeCmd) == 0, o.Logger, func(e *entry, src string) error {
		return linkEntry(e, src, filepath.Join(staging, filepath.FromSlash(e.rel)))
	})
	if err == nil {
		index = f.Index()
	}
	if thawErr := f.thaw(ctx); thawErr != nil {
		return t, 0, errors.Join(thawErr, err)
	}
	return t, index, err
}

func (f Freeze) thaw(ctx context.Context) error {
	if len(f.ThawCmd) == 0 {
		return nil
	}
	// Thaw even when ctx is done: a database left frozen is worse than a
	// late return.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if _, err := runCommand(tctx, "thaw", f.ThawCmd); err != nil {
		return fmt.Errorf("%w: %w", ErrThaw, err)
	}
	return nil
}

// linkEntry recreates e at dst: a dir, a copied symlink, or a hard link
// whose size and mtime become what the upload checks the file against.
func linkEntry(e *entry, src, dst string) error {
	switch e.typ {
	case segments.TypeDir:
		return os.Mkdir(dst, 0o700)
	case segments.TypeSymlink:
		return os.Symlink(filepath.FromSlash(e.target), dst)
	}
	if err := os.Link(src, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errVanished
		}
		if errors.Is(err, syscall.EXDEV) {
			return fmt.Errorf("hard-link %s into the state dir: %w (the state dir must be on the data dir's filesystem)", src, err)
		}
		return fmt.Errorf("hard-link %s: %w", src, err)
	}
	fi, err := os.Lstat(dst)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s: no longer a regular file when linked (mode %v)", ErrModifiedDuringSnapshot, e.rel, fi.Mode())
	}
	e.size, e.mtime, e.perm = fi.Size(), fi.ModTime(), uint32(fi.Mode().Perm())
	return nil
}
