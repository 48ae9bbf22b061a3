package wal

import (
	"cmp"
	"errors"
	"io/fs"
	"slices"
)

// Rewrite detection.
//
// The tailer remembers, for every segment file it returned entries from, the
// file's identity (device and inode), how many bytes it read and their
// CRC-32C. tidwall never changes a file's bytes in place: TruncateBack
// writes NNN.END (a prefix of segment NNN), deletes NNN and every later
// file, and renames the END file; TruncateFront writes NNN.START, deletes
// every earlier file and renames START. Either way a file the tailer read
// from that is still part of the log either keeps its inode, or is a new
// file whose first bytes match what the tailer read (a truncation that kept
// them), or it changed: then entries from its first index on may differ from
// what the tailer returned. Files now before the log's first index were
// truncated from the front, which is not a rewrite.
//
// Files before the position that the tailer did not read (it was
// positioned past them by Seek: the caller has their entries from
// elsewhere) are remembered by identity and size only. Such a file changed
// when its inode did, unless it is now the log's first file with the same
// size (TruncateFront at that file's start copies it whole). This errs on
// the side of reporting: a caller answers a RewrittenError by comparing
// entries (Scan), so a false alarm costs a comparison, a missed one a
// silently forked backup.
//
// Any truncation that touches a file before the position also deletes the
// file the tailer reads now, so the full check runs only when that file is
// gone, shrank, or has another name in the listing.

type fileRec struct {
	index uint64 // first index of the segment
	name  string // file name when last seen
	id    fileID
	size  int64  // bytes read from it
	crc   uint32 // CRC-32C of those bytes
	crcOK bool   // crc is known (false: tracked by identity and size only)
}

func (r *segReader) rec() fileRec {
	return fileRec{index: r.index, name: r.name, id: r.st.id, size: r.off, crc: r.crc, crcOK: true}
}

// retire moves the current file to the records and closes it.
func (t *Tailer) retire() {
	if c := t.cur; c != nil {
		if c.off > 0 {
			t.recs = append(t.recs, c.rec())
		}
		t.closeCur()
	}
}

// dropFront forgets files before the log's first index.
func (t *Tailer) dropFront(first uint64) {
	i := 0
	for i < len(t.recs) && t.recs[i].index < first {
		i++
	}
	if i > 0 {
		t.recs = append(t.recs[:0], t.recs[i:]...)
	}
	if t.cur != nil && t.cur.index < first {
		t.closeCur()
	}
}

// needsCheck reports whether the newest file read from changed.
func (t *Tailer) needsCheck(v view) bool {
	if c := t.cur; c != nil {
		s, ok := v.find(c.index)
		return c.changed() || !ok || s.name != c.name
	}
	if n := len(t.recs); n > 0 {
		r := t.recs[n-1]
		s, ok := v.find(r.index)
		if !ok || s.name != r.name {
			return true
		}
		st, err := statPath(joinDir(t.dir, s.name))
		return err != nil || st.id != r.id || st.size < r.size
	}
	return false
}

// checkRecords compares every remembered file with the listing. It sets
// and returns a *RewrittenError for the earliest changed file, and asks for
// a retry when a file vanished between the listing and a stat (a rename in
// progress).
func (t *Tailer) checkRecords(v view) (retry bool, err error) {
	first := v.first()
	n := len(t.recs)
	for i := 0; i <= n; i++ {
		var r fileRec
		switch {
		case i < n:
			r = t.recs[i]
		case t.cur != nil:
			r = t.cur.rec()
		default:
			return false, nil
		}
		if r.index < first {
			continue // truncated from the front
		}
		s, ok := v.find(r.index)
		if ok {
			same, id, err := t.sameBytes(r, s, s.index == first)
			if errors.Is(err, fs.ErrNotExist) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			if same {
				if i < n {
					t.recs[i].name, t.recs[i].id = s.name, id
				} else if id != t.cur.st.id {
					if err := t.cur.reopen(s); err != nil {
						if errors.Is(err, fs.ErrNotExist) {
							return true, nil
						}
						return false, err
					}
				} else {
					t.cur.name = s.name
				}
				continue
			}
		}
		file := r.name
		if ok {
			file = s.name
		}
		last, lerr := t.lastIndex(v)
		if lerr != nil {
			last = v.last().index - 1 // at least this much is there
		}
		from := r.index
		if last+1 < from && last+1 < t.pos {
			// The log now ends before entries the tailer passed, in files it
			// holds no record of.
			from = max(last+1, first)
		}
		t.recs = t.recs[:min(i, n)]
		t.closeCur()
		t.sticky = &RewrittenError{From: from, Last: last, File: file}
		return false, t.sticky
	}
	return false, nil
}

// sameBytes reports whether the file s still starts with the bytes r read.
func (t *Tailer) sameBytes(r fileRec, s segFile, isFirst bool) (bool, fileID, error) {
	path := joinDir(t.dir, s.name)
	st, err := statPath(path)
	if err != nil {
		return false, fileID{}, err
	}
	if st.id == r.id {
		return st.size >= r.size, st.id, nil
	}
	if !r.crcOK {
		return isFirst && st.size == r.size, st.id, nil
	}
	sum, long, err := prefixCRC(path, r.size)
	if err != nil {
		return false, fileID{}, err
	}
	return long && sum == r.crc, st.id, nil
}

// trackBefore starts remembering, by identity and size, the files before s
// that the tailer has no record of.
func (t *Tailer) trackBefore(v view, s segFile) {
	var add []fileRec
	j := 0
	for _, f := range v.segs {
		if f.index >= s.index {
			break
		}
		for j < len(t.recs) && t.recs[j].index < f.index {
			j++
		}
		if j < len(t.recs) && t.recs[j].index == f.index {
			continue
		}
		st, err := statPath(joinDir(t.dir, f.name))
		if err != nil {
			continue // gone since the listing: the next look sees why
		}
		add = append(add, fileRec{index: f.index, name: f.name, id: st.id, size: st.size})
	}
	if len(add) > 0 {
		t.recs = append(t.recs, add...)
		slices.SortFunc(t.recs, func(a, b fileRec) int { return cmp.Compare(a.index, b.index) })
	}
}
