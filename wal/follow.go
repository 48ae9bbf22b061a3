package wal

import (
	"os"
	"time"
)

// fullScanPeriod bounds the time between directory listings while the
// tailer waits at the tail doing cheap polls (one fstat and one stat).
const fullScanPeriod = 500 * time.Millisecond

// follow runs when the open file cannot give the entry at pos: it is
// waiting for the writer, at the end of a finished file, deleted, or there
// is no open file. It reports whether reading can be tried again at once.
func (t *Tailer) follow() (bool, error) {
	c := t.cur
	if c != nil && !c.changed() && !c.sealed && t.polls < max(1, int(fullScanPeriod/t.opt.Poll)) {
		// At the tail nothing happens until the writer appends to this file
		// or, when it is full, creates the next one, named by the index
		// after this file's last entry. Truncations delete this file, which
		// the fstat in read sees.
		if c.next == c.index {
			t.polls++
			return false, nil
		}
		if _, err := os.Lstat(joinDir(t.dir, segmentName(c.next))); err != nil {
			t.polls++
			return false, nil
		}
	}
	t.polls = 0
	v, err := scanDir(t.dir)
	if err != nil {
		return false, err
	}
	if t.needsCheck(v) {
		if retry, err := t.checkRecords(v); err != nil || retry {
			return false, err
		}
	}
	first := v.first()
	t.dropFront(first)
	if t.pos < first {
		t.closeCur()
		t.sticky = &TruncatedFrontError{Want: t.pos, First: first}
		return false, t.sticky
	}
	if t.cur == nil {
		s := v.segs[v.holding(t.pos)]
		t.trackBefore(v, s)
		return t.open(s)
	}
	c = t.cur
	nx, ok := v.after(c.index)
	if !ok {
		return false, nil // c is the last file: wait for the writer
	}
	if !c.sealed {
		// The writer finishes a file before it creates the next one, so
		// what c holds now is final: read it once more before judging.
		c.sealed = true
		return true, nil
	}
	if c.st.size > c.off {
		return false, corruptErr(c, "the segment file ends (at byte %d) inside an entry although the newer segment %s exists", c.st.size, nx.name)
	}
	if nx.index != c.next {
		return false, corruptErr(c, "the segment file ends before entry %d but the next segment file %s starts at %d", c.next, nx.name, nx.index)
	}
	t.retire()
	return t.open(nx)
}

// open makes s the current file, to be read from its start up to pos.
func (t *Tailer) open(s segFile) (bool, error) {
	// Files from s on will be read again; their old records are stale.
	i := 0
	for i < len(t.recs) && t.recs[i].index < s.index {
		i++
	}
	t.recs = t.recs[:i]
	r, err := openSeg(t.dir, s, true)
	if err == nil {
		r.borrow = t.opt.Borrow
	}
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil // renamed or truncated since the listing: look again
		}
		return false, err
	}
	t.cur = r
	return true, nil
}
