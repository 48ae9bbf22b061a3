package file

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/walship/walship/backends"
)

// List implements backends.Store. It streams: each directory is read
// (names only), ordered as keys order (a directory's name followed by
// '/'), and walked in that order, so fn sees keys in order without the
// whole listing held in memory, and a subtree that cannot hold a key past
// after or under prefix is not read at all. Each directory is read once;
// one with more than listWindow entries to list is sorted through an
// unlinked temporary file, in runs of listWindow entries merged (listDir),
// so a directory of any size is listed in bounded memory. A listing that
// cannot make or use that file fails rather than leave keys out. Only the
// files listed are stat'ed (for their size and time), not those at or
// before after.
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

// dirEntry is what a listing keeps of a directory entry until its turn:
// its name and type, about a hundred bytes, where an os.DirEntry costs
// half as much again (a directory of a day's one-second segments holds
// 86,400).
type dirEntry struct {
	name string
	typ  fs.FileMode
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
