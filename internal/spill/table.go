// Package spill holds sequences of fixed-size records that keep their
// first records in memory and the rest in an unlinked temporary file: what
// a command holds per segment of a long history (a restore plan, verify's
// listing, a prune's deletions) is disk, not memory.
package spill

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// Table is an append-only sequence of fixed-size records that keeps its
// first After records in memory and the rest in a temporary file, so what
// a plan holds per segment of a long history is disk, not memory: 100,000
// one-second segments planned are 6.4 MB in the file and a block of them
// in memory.
//
// The file is unlinked as soon as it is made: nothing is left behind when
// the process is killed, and its space is freed when the table is
// released or collected (os.File closes itself then).
//
//	file: record After, After+1, ... each Codec.Size bytes, in the
//	      codec's fixed layout (pitr's plannedCodec and segInfoCodec,
//	      retention's segment deletions), no header
//
// A file error is kept and returned by Err; At then returns zero records.
// Whoever reads a table checks Err before trusting what it read. A table
// is safe for concurrent use.
//
// Tables hold a restore plan's segments (pitr.PlannedSegments), each
// timeline's listing while planning, verify's listing and per-timeline
// views, and the segments a prune deletes (retention.SegmentDeletions).
type Table[T any] struct {
	codec Codec[T]

	mu    sync.Mutex
	mem   []T
	n     int      // records appended
	f     *os.File // spilled records; nil until the first
	flush int      // records in the file
	wbuf  []byte   // encoded records not yet written
	cache []T      // records at.. of the file, as last read
	at    int
	err   error
}

// Codec writes and reads one record in Size bytes.
type Codec[T any] struct {
	Size int
	Put  func(b []byte, v T)
	Get  func(b []byte) T
}

// After is how many records a table keeps in memory; Block how many it
// reads from its file at once. Variables so tests take every way.
var (
	After = 8192
	Block = 1024
)

// New makes an empty table of records in c's layout.
func New[T any](c Codec[T]) *Table[T] { return &Table[T]{codec: c} }

// Of makes a table of vs (tests, small plans built by hand).
func Of[T any](c Codec[T], vs []T) *Table[T] {
	t := New(c)
	for _, v := range vs {
		t.Append(v)
	}
	return t
}

// Len is the number of records appended.
func (t *Table[T]) Len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Append adds v at the end.
func (t *Table[T]) Append(v T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if len(t.mem) < After && t.f == nil {
		t.mem = append(t.mem, v)
		return
	}
	if t.err != nil {
		return
	}
	if t.f == nil {
		f, err := os.CreateTemp("", "walship-spill-*")
		if err != nil {
			t.err = fmt.Errorf("spill table: %w", err)
			return
		}
		os.Remove(f.Name()) // unlinked: gone with the last descriptor
		t.f = f
	}
	if t.wbuf == nil {
		t.wbuf = make([]byte, 0, Block*t.codec.Size)
	}
	k := len(t.wbuf)
	t.wbuf = t.wbuf[:k+t.codec.Size]
	t.codec.Put(t.wbuf[k:], v)
	if cap(t.wbuf)-len(t.wbuf) < t.codec.Size {
		t.writeLocked()
	}
}

func (t *Table[T]) writeLocked() {
	if len(t.wbuf) == 0 || t.err != nil {
		return
	}
	if _, err := t.f.WriteAt(t.wbuf, int64(t.flush)*int64(t.codec.Size)); err != nil {
		t.err = fmt.Errorf("spill table: write %s: %w", t.f.Name(), err)
		return
	}
	t.flush += len(t.wbuf) / t.codec.Size
	t.wbuf = t.wbuf[:0]
}

// At returns record i (0 <= i < Len); the zero record after a file error.
func (t *Table[T]) At(i int) T {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || i >= t.n {
		panic(fmt.Sprintf("spill table: record %d of %d", i, t.n)) // a caller's bug, never outside bytes
	}
	if i < len(t.mem) {
		return t.mem[i]
	}
	var zero T
	j := i - len(t.mem) // position in the file
	if j >= t.at && j < t.at+len(t.cache) {
		return t.cache[j-t.at]
	}
	t.writeLocked()
	if t.err != nil {
		return zero
	}
	start := j - j%Block
	n := min(Block, t.flush-start)
	buf := make([]byte, n*t.codec.Size)
	if _, err := t.f.ReadAt(buf, int64(start)*int64(t.codec.Size)); err != nil {
		t.err = fmt.Errorf("spill table: read %s: %w", t.f.Name(), err)
		return zero
	}
	t.cache, t.at = t.cache[:0], start
	for k := range n {
		t.cache = append(t.cache, t.codec.Get(buf[k*t.codec.Size:]))
	}
	return t.cache[j-start]
}

// Release closes the file and drops the records: the table is not read
// again.
func (t *Table[T]) Release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f != nil {
		t.f.Close()
	}
	t.f, t.mem, t.cache, t.wbuf = nil, nil, nil, nil
	if t.err == nil {
		t.err = ErrReleased
	}
}

// ErrReleased is Err after Release.
var ErrReleased = errors.New("spill table: read after release")

// Err is the first file error, if any.
func (t *Table[T]) Err() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
