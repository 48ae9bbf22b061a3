package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Directory layout of a tidwall/wal log, and how a reader sees it.
//
//	00000000000000000001        segment file, named by its first index (%020d)
//	00000000000000000734        the last segment file: the writer appends here
//	00000000000000000500.START  TruncateFront(500) in progress: the log starts
//	                            here; files before it are being deleted
//	00000000000000000001.END    TruncateBack in progress: this file replaces
//	                            00000000000000000001; files after it are being
//	                            deleted
//	*.TEMP                      being written before a rename; ignored
//
// A reader must not finish what a crashed writer left (that would write),
// so it interprets START/END files the way tidwall's load() would, without
// touching them.

const (
	segNameLen = 20
	startExt   = ".START"
	endExt     = ".END"
)

// segFile is one segment file of the logical log.
type segFile struct {
	index uint64 // first index, from the name
	name  string // file name in the directory, maybe with .START / .END
}

// segmentName is tidwall's file name for a segment starting at index.
func segmentName(index uint64) string { return fmt.Sprintf("%020d", index) }

// parseSegName reports whether name is a segment file (plain, .START or
// .END) and its first index.
func parseSegName(name string) (index uint64, ext string, ok bool) {
	if len(name) < segNameLen {
		return 0, "", false
	}
	for i := 0; i < segNameLen; i++ {
		c := name[i]
		if c < '0' || c > '9' {
			return 0, "", false
		}
		d := uint64(c - '0')
		if index > (1<<64-1-d)/10 {
			return 0, "", false
		}
		index = index*10 + d
	}
	if index == 0 {
		return 0, "", false
	}
	switch ext = name[segNameLen:]; ext {
	case "", startExt, endExt:
		return index, ext, true
	}
	return 0, "", false
}

// view is the logical log as one directory listing shows it.
type view struct {
	segs []segFile // ascending by index, at least one when scanDir succeeds
	temp bool      // a .START or .END file is present
}

// scanDir lists dir. It returns ErrNotWAL (wrapped) when dir is missing,
// not a directory, or holds no segment file.
func scanDir(dir string) (view, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return view{}, fmt.Errorf("%s: %w: the directory does not exist; point walship at the database's tidwall/wal directory", dir, ErrNotWAL)
		}
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return view{}, fmt.Errorf("%s: %w: it is a file, not a directory; point walship at the database's tidwall/wal directory", dir, ErrNotWAL)
		}
		return view{}, fmt.Errorf("read WAL directory %s: %w (check that walship may read it)", dir, err)
	}
	var v view
	all := make([]segFile, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		index, ext, ok := parseSegName(e.Name())
		if !ok {
			continue
		}
		v.temp = v.temp || ext != ""
		all = append(all, segFile{index: index, name: e.Name()})
	}
	v.segs = logical(all)
	if len(v.segs) == 0 {
		return view{}, fmt.Errorf("%s: %w: it holds no segment files (tidwall/wal names them by their first index in 20 digits, e.g. %s); point walship at the database's tidwall/wal directory",
			dir, ErrNotWAL, segmentName(1))
	}
	return v, nil
}

// logical applies START and END files to a name-sorted listing as
// tidwall's load() does: files before the (last) START are gone and START is
// the first segment; files after the (first) END are gone and END replaces
// the segment with its index.
func logical(all []segFile) []segFile {
	// os.ReadDir sorts by name, so does tidwall; keep that order explicit.
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	start, end := -1, -1
	for i, s := range all {
		if strings.HasSuffix(s.name, startExt) {
			start = i
		} else if strings.HasSuffix(s.name, endExt) && end == -1 {
			end = i
		}
	}
	if start >= 0 {
		all = all[start:]
		end -= start
		if end < 0 {
			end = -1
		}
	}
	if end >= 0 {
		all = all[:end+1]
		if n := len(all); n > 1 && all[n-2].index == all[n-1].index {
			all[n-2] = all[n-1]
			all = all[:n-1]
		}
	}
	return all
}

func (v view) first() uint64 { return v.segs[0].index }
func (v view) last() segFile { return v.segs[len(v.segs)-1] }

// holding returns the position of the segment that holds index (the last
// one starting at or before it), or -1 when index is before the log.
func (v view) holding(index uint64) int {
	return sort.Search(len(v.segs), func(i int) bool { return v.segs[i].index > index }) - 1
}

// find returns the segment that starts at index.
func (v view) find(index uint64) (segFile, bool) {
	if i := v.holding(index); i >= 0 && v.segs[i].index == index {
		return v.segs[i], true
	}
	return segFile{}, false
}

// after returns the segment following the one that starts at index.
func (v view) after(index uint64) (segFile, bool) {
	i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].index > index })
	if i < len(v.segs) {
		return v.segs[i], true
	}
	return segFile{}, false
}

func joinDir(dir, name string) string { return filepath.Join(dir, name) }
