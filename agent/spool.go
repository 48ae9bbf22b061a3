package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/walship/walship/segments"
)

// spool is STATE/spool: sealed segments waiting for every store. An item's
// file name is its object key with the "segments/" prefix dropped and the
// timeline directory joined by '-', so names sort like keys:
//
//	TTTTTTTT-FFFFFFFFFFFFFFFFFFFF-LLLLLLLLLLLLLLLLLLLL-MMMMMMMMMMMMMMMMMMMM.wseg
//
// Segments being written are "open-N.tmp" (several at once, one per
// compression worker); they are discarded on restart (their entries are
// read again from the source).
type spool struct {
	dir string
	seq atomic.Uint64 // numbers open files
}

const openPrefix, openSuffix = "open", ".tmp" // "open.tmp" (older walship) and "open-N.tmp"

// openSpool creates dir (0700) or opens it, discarding an open segment.
// A spool left by an older walship is made owner-only, dir and items.
// When dir does not exist and the state dir has no room for it
// (isDiskFull), it returns the spool all the same, with that error: it
// holds nothing to ship, and ensureDir makes it before anything is
// written into it.
func openSpool(dir string, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, stateDirPerm); err != nil {
		err = fmt.Errorf("create spool %s: %w", dir, err)
		if isDiskFull(err) {
			return &spool{dir: dir}, err
		}
		return nil, err
	}
	if err := ownerOnly(dir, stateDirPerm, log); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("clean spool %s: %w", dir, err)
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, openPrefix) && strings.HasSuffix(n, openSuffix) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
				return nil, fmt.Errorf("clean spool %s: %w", dir, err)
			}
		}
	}
	s := &spool{dir: dir}
	names, err := s.items()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := ownerOnly(s.path(name), stateFilePerm, log); err != nil {
			return nil, fmt.Errorf("open spool: %w", err)
		}
	}
	return s, nil
}

func itemName(n segments.SegmentName) string {
	return strings.Replace(strings.TrimPrefix(n.Key(), segments.SegmentsPrefix), "/", "-", 1)
}

func parseItem(name string) (segments.SegmentName, error) {
	if len(name) < 10 || name[8] != '-' {
		return segments.SegmentName{}, fmt.Errorf("spool: not a segment: %q", name)
	}
	return segments.ParseSegmentKey(segments.SegmentsPrefix + name[:8] + "/" + name[9:])
}

func (s *spool) path(name string) string { return filepath.Join(s.dir, name) }

// ensureDir makes the spool dir if it is missing (openSpool could not).
func (s *spool) ensureDir() error {
	if err := os.MkdirAll(s.dir, stateDirPerm); err != nil {
		return fmt.Errorf("create spool %s: %w", s.dir, err)
	}
	return nil
}

// items lists the sealed segments in key order; a spool dir not made yet
// holds none.
func (s *spool) items() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list spool: %w", err)
	}
	var names []string
	for _, e := range ents {
		if _, err := parseItem(e.Name()); err == nil && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// create opens a new file for a segment being written.
func (s *spool) create() (*os.File, error) {
	name := fmt.Sprintf("%s-%d%s", openPrefix, s.seq.Add(1), openSuffix)
	f, err := os.OpenFile(s.path(name), os.O_CREATE|os.O_TRUNC|os.O_RDWR, stateFilePerm)
	if err != nil {
		return nil, fmt.Errorf("spool: create segment: %w", err)
	}
	return f, nil
}

// probe reports whether the spool's filesystem takes n more bytes now
// (making the spool dir first if it is missing). It writes them to an
// open file, removed at once (one a crash leaves behind
// is removed at the next start, like any open file). It does not fsync:
// filesystems that allocate late still reserve the space at write(2).
func (s *spool) probe(n int) error {
	if err := s.ensureDir(); err != nil {
		return err
	}
	f, err := s.create()
	if err != nil {
		return err
	}
	defer s.discard(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, n)); err != nil {
		return fmt.Errorf("spool: probe for %d free bytes: %w", n, err)
	}
	return nil
}

// commit gives a written, fsynced and closed open file its item name and
// makes the rename durable.
func (s *spool) commit(path, name string) error {
	if err := os.Rename(path, s.path(name)); err != nil {
		return fmt.Errorf("spool: seal %s: %w", name, err)
	}
	if err := syncDir(s.dir); err != nil {
		os.Remove(s.path(name)) // not sealed: no item may outlive the error
		return err
	}
	return nil
}

// discard removes an open file.
func (s *spool) discard(path string) { os.Remove(path) }

func (s *spool) remove(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("spool: remove %s: %w", name, err)
	}
	return nil
}

// info describes an item found in the spool at start: its size, its last
// entry, and (the best the agent can know after a restart) its file's
// modification time as the time its entries were read.
func (s *spool) info(name string) itemInfo {
	var ii itemInfo
	if n, err := parseItem(name); err == nil {
		ii.last = n.Last
	}
	if fi, err := os.Stat(s.path(name)); err == nil {
		ii.size, ii.firstRead = fi.Size(), fi.ModTime()
	}
	return ii
}

// size returns the bytes held by sealed segments.
func (s *spool) size() int64 {
	names, _ := s.items()
	var n int64
	for _, name := range names {
		if fi, err := os.Stat(s.path(name)); err == nil {
			n += fi.Size()
		}
	}
	return n
}
