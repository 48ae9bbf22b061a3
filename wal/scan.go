package wal

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrLogEnded: a Scan found the log ending before the entries it was
// asked for (a TruncateBack since the caller looked at its bounds).
var ErrLogEnded = errors.New("the log ends")

// Scan calls fn for the complete entries from..to (inclusive) in order,
// reading with its own file handles: the position of Next does not move.
// Entry.Time is zero and Entry.Data is a fresh slice. It returns fn's error
// as is, a *TruncatedFrontError when from is before the log's first index,
// and an error when the log ends before to.
func (t *Tailer) Scan(from, to uint64, fn func(Entry) error) error {
	if from == 0 {
		return errors.New("wal: scan from index 0: tidwall/wal indexes start at 1")
	}
	idx := from
	for retries := 0; idx <= to; {
		v, err := scanDir(t.dir)
		if err != nil {
			return err
		}
		if idx < v.first() {
			return &TruncatedFrontError{Want: idx, First: v.first()}
		}
		before := idx
		err = t.scanView(v, &idx, to, fn)
		if fe, ok := err.(fnError); ok {
			return fe.err
		}
		if errors.Is(err, fs.ErrNotExist) && retries < 3 {
			if idx == before {
				retries++
			}
			continue // a file was renamed or removed since the listing
		}
		if err != nil {
			return err
		}
		if idx <= to {
			return fmt.Errorf("wal: scan %d..%d: %w at entry %d", from, to, ErrLogEnded, idx-1)
		}
	}
	return nil
}

// scanView reads entries *idx..to from the files of v, advancing *idx.
func (t *Tailer) scanView(v view, idx *uint64, to uint64, fn func(Entry) error) error {
	for i := v.holding(*idx); i < len(v.segs); i++ {
		r, err := openSeg(t.dir, v.segs[i], false)
		if err != nil {
			return err
		}
		err = t.scanFile(r, idx, to, fn)
		if err == nil && *idx <= to && i+1 < len(v.segs) {
			// Files before the last are complete and must end where the
			// next one starts.
			nx := v.segs[i+1]
			if r.st.size > r.off {
				err = corruptErr(r, "the segment file ends (at byte %d) inside an entry although the newer segment %s exists", r.st.size, nx.name)
			} else if r.next != nx.index {
				err = corruptErr(r, "the segment file ends before entry %d but the next segment file %s starts at %d", r.next, nx.name, nx.index)
			}
		}
		r.close()
		if err != nil || *idx > to {
			return err
		}
	}
	return nil
}

func (t *Tailer) scanFile(r *segReader, idx *uint64, to uint64, fn func(Entry) error) error {
	for *idx <= to {
		keep := r.next == *idx
		data, st, err := r.entry(t.fmt, keep)
		if err != nil || st != stReady {
			return err
		}
		if keep {
			if err := fn(Entry{Index: *idx, Data: data}); err != nil {
				return fnError{err}
			}
			*idx++
		}
	}
	return nil
}

// fnError carries the callback's error through Scan's retries untouched.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }
