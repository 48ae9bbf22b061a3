// Package file is the local-disk backends.Store: one file per object under a
// root directory. Put writes a temp file, fsyncs it, hard-links it into place
// (link fails if the name is taken, which makes create-if-absent atomic) and
// fsyncs the directory, so a crash never leaves a partial object visible.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/walship/walship/backends"
)

// tmpDir holds in-flight Puts. '~' is not allowed in keys, so it can never
// collide with an object and List skips it.
const tmpDir = ".walship~tmp"

// Store keeps objects as files below Root.
type Store struct {
	root     string
	dirMode  fs.FileMode
	fileMode fs.FileMode
}

var _ backends.Store = (*Store)(nil)

// Default modes: objects are copies of a database's log and data, so the
// store is readable by its owner only unless Options say otherwise.
const (
	DefaultDirMode  fs.FileMode = 0o700
	DefaultFileMode fs.FileMode = 0o600
)

// Options tune Open. Zero values take the defaults.
type Options struct {
	// DirMode is the mode of directories the store creates (its root
	// included, when it creates it); default 0700. The umask does not
	// apply. A root that exists keeps its mode.
	DirMode fs.FileMode
	// FileMode is the mode of objects; default 0600. The umask does not
	// apply.
	FileMode fs.FileMode
	// MustExist refuses a root that does not exist instead of creating
	// it: commands that read or change a backup (restore, verify, list,
	// mark, prune, compact) must not make an empty store out of a mistyped
	// path.
	MustExist bool
}

// Open returns a store rooted at dir, creating dir if needed, with the
// default (owner-only) modes.
func Open(dir string) (*Store, error) {
	return OpenWith(dir, Options{})
}

// OpenWith is Open with options.
func OpenWith(dir string, o Options) (*Store, error) {
	if o.DirMode == 0 {
		o.DirMode = DefaultDirMode
	}
	if o.FileMode == 0 {
		o.FileMode = DefaultFileMode
	}
	if o.DirMode&^fs.ModePerm != 0 || o.FileMode&^fs.ModePerm != 0 || o.DirMode&0o700 != 0o700 || o.FileMode&0o600 != 0o600 {
		return nil, backends.Permanent(fmt.Errorf("open file store %s: modes %v (dirs) and %v (files): want permission bits only, owner rwx on dirs and rw on files", dir, o.DirMode, o.FileMode))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open file store %s: %w", dir, err)
	}
	if o.MustExist {
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, backends.Permanent(fmt.Errorf("open file store %s: no such directory (check the path; only replicate and copy create a store)", abs))
		}
	}
	s := &Store{root: abs, dirMode: o.DirMode, fileMode: o.FileMode}
	if err := s.mkdirAll(filepath.Join(abs, tmpDir)); err != nil {
		return nil, backends.Permanent(fmt.Errorf("open file store %s: %w (is the directory writable?)", abs, err))
	}
	return s, nil
}

// mkdirAll is os.MkdirAll giving every directory it creates s.dirMode,
// whatever the umask.
func (s *Store) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", dir)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := s.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, s.dirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made meanwhile (a concurrent Put)
		}
		return err
	}
	return os.Chmod(dir, s.dirMode)
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Put implements backends.Store.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) (err error) {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	final := s.path(key)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("put %s: %w", key, backends.ErrExists)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "put-*")
	if err != nil {
		return fmt.Errorf("put %s: create temp: %w", key, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: io.LimitReader(r, size+1)})
	if err != nil {
		return fmt.Errorf("put %s: write: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("put %s: body has %d bytes, want %d", key, n, size)
	}
	if s.fileMode != 0o600 { // CreateTemp made it 0600
		if err := tmp.Chmod(s.fileMode); err != nil {
			return fmt.Errorf("put %s: chmod: %w", key, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("put %s: fsync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", key, err)
	}
	dir := filepath.Dir(final)
	if err := s.mkdirAll(dir); err != nil {
		return fmt.Errorf("put %s: mkdir: %w", key, err)
	}
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", key, backends.ErrExists)
		}
		return fmt.Errorf("put %s: link: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// Get implements backends.Store.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := backends.ValidKey(key); err != nil {
		return nil, backends.Permanent(fmt.Errorf("get %s: %w", key, err))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("get %s: %w", key, backends.ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("get %s: seek %d: %w", key, offset, err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

// Stat implements backends.Store.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := backends.ValidKey(key); err != nil {
		return backends.ObjectInfo{}, backends.Permanent(fmt.Errorf("stat %s: %w", key, err))
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return backends.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, backends.ErrNotFound)
		}
		return backends.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return backends.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, backends.ErrNotFound)
	}
	return backends.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

// Delete implements backends.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("delete %s: %w", key, err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// String implements backends.Store.
func (s *Store) String() string { return "file://" + filepath.ToSlash(s.root) }

// Close implements backends.Store.
func (s *Store) Close() error { return nil }

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
