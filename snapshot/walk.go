package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/walship/walship/segments"
)

// entry is one thing found in a data directory, with what the upload checks
// a file against when it reads it.
type entry struct {
	rel    string // slash-separated, relative to the tree's root
	typ    segments.FileType
	perm   uint32
	target string    // symlinks
	size   int64     // files: size when captured
	mtime  time.Time // files: modification time when captured
}

// tree is a captured directory: its entries in walk order (lexical, parents
// first) and the mode of the directory itself.
type tree struct {
	entries  []entry
	rootMode uint32
	skipped  int // sockets, devices, fifos
}

// errVanished tells walkTree that an entry disappeared and is to be left
// out (only tolerated while linking a live data dir).
var errVanished = errors.New("vanished")

// walkTree lists dir in lexical order without following symlinks. visit,
// if set, is called with each entry and its path and may fill in the file
// fields or return errVanished. With live set, entries that disappear while
// listed are left out, else they are an error.
func walkTree(dir string, live bool, log *slog.Logger, visit func(e *entry, path string) error) (tree, error) {
	var t tree
	rootInfo, err := os.Stat(dir)
	if err != nil {
		return t, fmt.Errorf("snapshot source: %w", err)
	}
	if !rootInfo.IsDir() {
		return t, fmt.Errorf("snapshot source %s is not a directory", dir)
	}
	t.rootMode = uint32(rootInfo.Mode().Perm())
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if live && errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil
			}
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if err := segments.ValidSnapshotPath(rel); err != nil {
			return fmt.Errorf("%w %s: %v", ErrUnsupported, p, err)
		}
		fi, err := d.Info()
		if err != nil {
			if live && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		e := entry{rel: rel, perm: uint32(fi.Mode().Perm())}
		switch {
		case fi.IsDir():
			e.typ = segments.TypeDir
		case fi.Mode()&fs.ModeSymlink != 0:
			e.typ, e.perm = segments.TypeSymlink, 0
			if e.target, err = os.Readlink(p); err != nil {
				if live && errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if err := segments.ValidSymlinkTarget(rel, filepath.ToSlash(e.target)); err != nil {
				return fmt.Errorf("%w %s: %v (a snapshot holds only links that stay inside the data directory)", ErrUnsupported, p, err)
			}
			e.target = filepath.ToSlash(e.target)
		case fi.Mode().IsRegular():
			e.typ, e.size, e.mtime = segments.TypeFile, fi.Size(), fi.ModTime()
		default:
			log.Warn("snapshot: skipping a file that is neither regular, a directory nor a symlink", "path", p, "mode", fi.Mode().String())
			t.skipped++
			return nil
		}
		if visit != nil {
			if err := visit(&e, p); err != nil {
				if errors.Is(err, errVanished) {
					if e.typ == segments.TypeDir {
						return fs.SkipDir
					}
					return nil
				}
				return err
			}
		}
		t.entries = append(t.entries, e)
		return nil
	})
	if err != nil {
		return tree{}, fmt.Errorf("read %s: %w", dir, err)
	}
	return t, nil
}

// resolveDir returns dir as an absolute path with symlinks resolved, so a
// walk starts at the real directory.
func resolveDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}
