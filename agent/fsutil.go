package agent

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The state dir holds copies of the database's log (the spool) and what the
// agent knows of it: readable by its owner only, whatever the umask.
const (
	stateDirPerm  fs.FileMode = 0o700
	stateFilePerm fs.FileMode = 0o600
)

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync
// the directory. A crash leaves either the old or the new content. The
// file is owner-only (os.CreateTemp makes it 0600 whatever the umask).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return syncDir(dir)
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

// ownerOnly takes group and other permissions off path (a directory or a
// file) when it has any, and says so in the log: a state dir made by an
// older walship, or by hand, may be world-readable. It never follows a
// symlink at path's last element.
func ownerOnly(path string, perm fs.FileMode, log *slog.Logger) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check permissions of %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 || fi.Mode().Perm()&^perm == 0 {
		return nil
	}
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("restrict permissions of %s to %v: %w (make it owner-only by hand, or choose another --state)", path, perm, err)
	}
	if fi.IsDir() && isEmptyDir(path) {
		return nil // just made (by MkdirAll through the umask): nothing was exposed
	}
	if log != nil {
		log.Warn("state was readable by others; made it owner-only", "path", path, "was", fi.Mode().Perm().String(), "now", perm.String())
	}
	return nil
}

func isEmptyDir(dir string) bool {
	d, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer d.Close()
	names, _ := d.Readdirnames(1)
	return len(names) == 0
}
