package wal

import (
	"errors"
	"fmt"
	"io/fs"
)

// Bounds takes a fresh look at the directory and returns the log's first
// index and its last complete index (last = first-1 when the log is empty).
func (t *Tailer) Bounds() (first, last uint64, err error) {
	for attempt := 0; ; attempt++ {
		v, err := scanDir(t.dir)
		if err != nil {
			return 0, 0, err
		}
		last, err := t.lastIndex(v)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue // the last file was renamed since the listing
		}
		if err != nil {
			return 0, 0, err
		}
		return v.first(), last, nil
	}
}

// SegmentStart returns the first index of the source segment file that
// holds entry index.
func (t *Tailer) SegmentStart(index uint64) (uint64, error) {
	v, err := scanDir(t.dir)
	if err != nil {
		return 0, err
	}
	if index < v.first() {
		return 0, &TruncatedFrontError{Want: index, First: v.first()}
	}
	i := v.holding(index)
	if i == len(v.segs)-1 {
		last, err := t.lastIndex(v)
		if err != nil {
			return 0, err
		}
		if index > last {
			return 0, fmt.Errorf("wal: entry %d is not in the log yet (its last complete entry is %d)", index, last)
		}
	}
	return v.segs[i].index, nil
}

// lastIndex counts the complete entries of the view's last file, going on
// from where the previous count stopped when it is the same file.
func (t *Tailer) lastIndex(v view) (uint64, error) {
	s := v.last()
	r, err := openSeg(t.dir, s, false)
	if err != nil {
		return 0, err
	}
	defer r.close()
	c := &t.counter
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index == s.index && c.id == r.st.id && c.off <= r.st.size && c.off > 0 {
		r.off, r.next, r.sniffd = c.off, c.next, true
	}
	for {
		_, st, err := r.entry(t.fmt, false)
		if err != nil {
			return 0, err
		}
		if st != stReady {
			break
		}
	}
	c.index, c.id, c.off, c.next = s.index, r.st.id, r.off, r.next
	return r.next - 1, nil
}
