package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/walship/walship/backends"
)

var _ backends.Swapper = (*Store)(nil)

// Conditional writes on a directory: PutIf holds an exclusive flock(2) on a
// lock file per key (in tmpDir, so List never shows it) while it reads the
// current object, compares its version and renames the new one over it.
// The version is the content hash (like a single-part S3 ETag). Readers
// need no lock: a rename replaces the file whole. flock serialises the
// processes of one host; on a network file system it is only as good as
// the server's lock support.

// version is a content hash.
func version(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (s *Store) casLockPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.root, tmpDir, "cas-"+hex.EncodeToString(sum[:8])+".lock")
}

// PutIf implements backends.Swapper.
func (s *Store) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	if err := backends.CheckSwap(key, size); err != nil {
		return "", err
	}
	b, err := backends.ReadSwapBody(ctx, key, r, size)
	if err != nil {
		return "", err
	}
	unlock, err := s.casLock(ctx, key)
	if err != nil {
		return "", err
	}
	defer unlock()
	final := s.path(key)
	cur, err := os.ReadFile(final)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if match != "" {
			return "", backends.Conflict(key, match)
		}
	case err != nil:
		return "", fmt.Errorf("put-if %s: read current: %w", key, err)
	case match == "" || version(cur) != match:
		return "", backends.Conflict(key, match)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put-if %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "putif-*")
	if err != nil {
		return "", fmt.Errorf("put-if %s: create temp: %w", key, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if _, err := tmp.Write(b); err != nil {
		return "", fmt.Errorf("put-if %s: write: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("put-if %s: fsync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("put-if %s: close: %w", key, err)
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("put-if %s: mkdir: %w", key, err)
	}
	if match == "" {
		// Link, not rename: a plain Put of the same key (which does not
		// take the lock) must not be replaced either.
		err = os.Link(tmp.Name(), final)
		if errors.Is(err, fs.ErrExist) {
			return "", backends.Conflict(key, match)
		}
	} else {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return "", fmt.Errorf("put-if %s: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("put-if %s: %w", key, err)
	}
	return version(b), nil
}

// casLock takes key's exclusive lock, polling so that ctx can end the
// wait.
func (s *Store) casLock(ctx context.Context, key string) (func(), error) {
	f, err := os.OpenFile(s.casLockPath(key), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("put-if %s: open lock: %w", key, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("put-if %s: lock: %w", key, err)
		}
		if err := sleepCtx(ctx); err != nil {
			f.Close()
			return nil, fmt.Errorf("put-if %s: waiting for the lock: %w", key, err)
		}
	}
}

// GetVersion implements backends.Swapper.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := backends.ValidKey(key); err != nil {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %w", key, err))
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("get-version %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("get-version %s: %w", key, backends.ErrNotFound)
		}
		return nil, "", fmt.Errorf("get-version %s: %w", key, err)
	}
	defer f.Close()
	b, err := backends.ReadSwapObject(key, f)
	if err != nil {
		return nil, "", err
	}
	return b, version(b), nil
}

// sleepCtx waits a moment between lock attempts.
func sleepCtx(ctx context.Context) error {
	t := time.NewTimer(2 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
