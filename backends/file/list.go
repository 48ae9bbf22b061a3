package file

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/walship/walship/backends"
)

// List implements backends.Store. It streams: each directory is read
// (names only), ordered as keys order (a directory's name followed by
// '/'), and walked in that order, so fn sees keys in order without the
// whole listing held in memory, and a subtree that cannot hold a key past
// after or under prefix is not read at all. Only the files listed are
// stat'ed (for their size and time), not those at or before after.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := backends.ValidPrefix(prefix); err != nil {
		return backends.Permanent(fmt.Errorf("list %s: %w", prefix, err))
	}
	base, keyPrefix := s.root, ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base, keyPrefix = s.path(prefix[:i]), prefix[:i+1]
	}
	err := s.listDir(ctx, base, keyPrefix, prefix, after, fn)
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err // fn's own error, as it returned it
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// fnError carries an error of List's fn out of the walk unchanged.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// listDir lists the files below dir, whose keys all start with keyPrefix,
// in key order.
func (s *Store) listDir(ctx context.Context, dir, keyPrefix, prefix, after string, fn func(backends.ObjectInfo) error) error {
	ents, err := readDirSorted(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // no such prefix (or a file where it would be), or removed while listing
		}
		return err
	}
	for _, d := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := keyPrefix + d.name
		if d.typ.IsDir() {
			key += "/"
			// Every key below starts with key (ending in '/'): skip the
			// subtree when none can be under prefix or past after.
			if d.name == tmpDir || !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) ||
				key < after && !strings.HasPrefix(after, key) {
				continue
			}
			if err := s.listDir(ctx, filepath.Join(dir, d.name), key, prefix, after, fn); err != nil {
				return err
			}
			continue
		}
		if !d.typ.IsRegular() || !strings.HasPrefix(key, prefix) || key <= after || backends.ValidKey(key) != nil {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, d.name))
		if err != nil {
			continue // removed while listing
		}
		if err := fn(backends.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}); err != nil {
			return fnError{err}
		}
	}
	return nil
}

// dirEntry is what a listing keeps of a directory entry until its turn:
// its name and type, about a hundred bytes, where an os.DirEntry costs
// half as much again (a directory of a day's one-second segments holds
// 86,400).
type dirEntry struct {
	name string
	typ  fs.FileMode
}

// readDirSorted reads dir's entries, in batches, in key order.
func readDirSorted(dir string) ([]dirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []dirEntry
	for {
		ents, err := f.ReadDir(1024)
		for _, d := range ents {
			out = append(out, dirEntry{name: d.Name(), typ: d.Type()})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, compareEntries)
	return out, nil
}

// compareEntries orders entries as their keys order: a directory's name
// as if it ended in '/'.
func compareEntries(a, b dirEntry) int {
	n := min(len(a.name), len(b.name))
	if c := strings.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	return cmp.Compare(a.sortByte(n), b.sortByte(n))
}

// sortByte is the byte at i of the name the entry sorts by, -1 past its
// end.
func (e dirEntry) sortByte(i int) int {
	switch {
	case i < len(e.name):
		return int(e.name[i])
	case i == len(e.name) && e.typ.IsDir():
		return '/'
	}
	return -1
}
