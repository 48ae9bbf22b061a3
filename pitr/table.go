package pitr

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// table is an append-only sequence of fixed-size records that keeps its
// first spillAfter records in memory and the rest in a temporary file, so
// what a plan holds per segment of a long history is disk, not memory:
// 100,000 one-second segments planned are 6.4 MB in the file and a block
// of them in memory.
//
// The file is unlinked as soon as it is made: nothing is left behind when
// the process is killed, and its space is freed when the table is
// released or collected (os.File closes itself then).
//
//	file: record spillAfter, spillAfter+1, ... each codec.size bytes,
//	      in the codec's fixed layout (plannedCodec, segInfoCodec), no header
//
// A file error is kept and returned by Err; At then returns zero records.
// Whoever reads a table checks Err before trusting what it read. A table
// is safe for concurrent use.
//
// Tables hold a plan's segments (PlannedSegments), each timeline's
// listing while planning (listSegmentTable), and verify's listing and
// per-timeline views (byTimeline).
type table[T any] struct {
	codec codec[T]

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

// codec writes and reads one record in size bytes.
type codec[T any] struct {
	size int
	put  func(b []byte, v T)
	get  func(b []byte) T
}

// spillAfter is how many records a table keeps in memory; tableBlock how
// many it reads from its file at once. Variables so tests take every way.
var (
	spillAfter = 8192
	tableBlock = 1024
)

func newTable[T any](c codec[T]) *table[T] { return &table[T]{codec: c} }

// tableOf makes a table of vs (tests, small plans built by hand).
func tableOf[T any](c codec[T], vs []T) *table[T] {
	t := newTable(c)
	for _, v := range vs {
		t.Append(v)
	}
	return t
}

// Len is the number of records appended.
func (t *table[T]) Len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Append adds v at the end.
func (t *table[T]) Append(v T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if len(t.mem) < spillAfter && t.f == nil {
		t.mem = append(t.mem, v)
		return
	}
	if t.err != nil {
		return
	}
	if t.f == nil {
		f, err := os.CreateTemp("", "walship-plan-*")
		if err != nil {
			t.err = fmt.Errorf("plan table: %w", err)
			return
		}
		os.Remove(f.Name()) // unlinked: gone with the last descriptor
		t.f = f
	}
	if t.wbuf == nil {
		t.wbuf = make([]byte, 0, tableBlock*t.codec.size)
	}
	k := len(t.wbuf)
	t.wbuf = t.wbuf[:k+t.codec.size]
	t.codec.put(t.wbuf[k:], v)
	if cap(t.wbuf)-len(t.wbuf) < t.codec.size {
		t.writeLocked()
	}
}

func (t *table[T]) writeLocked() {
	if len(t.wbuf) == 0 || t.err != nil {
		return
	}
	if _, err := t.f.WriteAt(t.wbuf, int64(t.flush)*int64(t.codec.size)); err != nil {
		t.err = fmt.Errorf("plan table: write %s: %w", t.f.Name(), err)
		return
	}
	t.flush += len(t.wbuf) / t.codec.size
	t.wbuf = t.wbuf[:0]
}

// At returns record i (0 <= i < Len); the zero record after a file error.
func (t *table[T]) At(i int) T {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < 0 || i >= t.n {
		panic(fmt.Sprintf("plan table: record %d of %d", i, t.n)) // a caller's bug, never outside bytes
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
	start := j - j%tableBlock
	n := min(tableBlock, t.flush-start)
	buf := make([]byte, n*t.codec.size)
	if _, err := t.f.ReadAt(buf, int64(start)*int64(t.codec.size)); err != nil {
		t.err = fmt.Errorf("plan table: read %s: %w", t.f.Name(), err)
		return zero
	}
	t.cache, t.at = t.cache[:0], start
	for k := range n {
		t.cache = append(t.cache, t.codec.get(buf[k*t.codec.size:]))
	}
	return t.cache[j-start]
}

// release closes the file and drops the records: the table is not read
// again.
func (t *table[T]) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f != nil {
		t.f.Close()
	}
	t.f, t.mem, t.cache, t.wbuf = nil, nil, nil, nil
	if t.err == nil {
		t.err = errReleased
	}
}

var errReleased = errors.New("plan table: read after release")

// Err is the first file error, if any.
func (t *table[T]) Err() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
