package file

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// sortedEntries hands over a directory's entries in key order (next): the
// entries in memory, sorted, merged with the sorted runs written to a
// temporary file when there were more than a window of them. The file is
// unlinked as soon as it is made, so nothing is left behind when the
// process is killed; close closes it.
//
//	temporary file: run 1 | run 2 | ... (runs[i]: its offset and length)
//	run:            entry | entry | ... in key order, listWindow entries
//	entry:          uvarint(len(name)) | name | type (1 byte: 0 file, 1 dir)
//
// While merging, each run is read through its own 4 KiB buffer, and a heap
// holds each run's next entry (and the next in memory).
type sortedEntries struct {
	dir  string
	mem  []dirEntry // entries read since the last run was written
	tmp  *os.File   // the runs; nil until the first is written
	w    *bufio.Writer
	size int64      // bytes written to tmp
	runs [][2]int64 // offset and length of each run in tmp
	heap runHeap    // while merging: each run's next entry
}

// spill sorts the entries in memory and appends them to the temporary file
// as a run.
func (e *sortedEntries) spill() error {
	slices.SortFunc(e.mem, compareEntries)
	if e.tmp == nil {
		f, err := os.CreateTemp("", "walship-list-*")
		if err != nil {
			return fmt.Errorf("sort the entries of %s in a temporary file: %w", e.dir, err)
		}
		os.Remove(f.Name()) // unlinked: gone with the last descriptor
		e.tmp, e.w = f, bufio.NewWriterSize(f, 64<<10)
	}
	start := e.size
	var b [binary.MaxVarintLen64 + 1]byte
	for _, d := range e.mem {
		n := binary.PutUvarint(b[:], uint64(len(d.name)))
		e.w.Write(b[:n]) // a write error is kept by w and returned by Flush
		e.w.WriteString(d.name)
		typ := byte(0)
		if d.typ.IsDir() {
			typ = 1
		}
		e.w.WriteByte(typ)
		e.size += int64(n + len(d.name) + 1)
	}
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("write the sorted entries of %s to a temporary file: %w", e.dir, err)
	}
	e.runs = append(e.runs, [2]int64{start, e.size - start})
	clear(e.mem) // their names are not kept
	e.mem = e.mem[:0]
	return nil
}

// merge sorts the entries in memory and starts handing over entries: the
// first of each run and of those in memory go to the heap.
func (e *sortedEntries) merge() error {
	slices.SortFunc(e.mem, compareEntries)
	e.w = nil // flushed with the last run
	for _, r := range e.runs {
		br := bufio.NewReaderSize(io.NewSectionReader(e.tmp, r[0], r[1]), 4<<10)
		var buf []byte
		if err := e.push(func() (dirEntry, bool, error) { return readEntry(br, &buf) }); err != nil {
			return e.readError(err)
		}
	}
	i := 0
	return e.push(func() (dirEntry, bool, error) {
		if i == len(e.mem) {
			return dirEntry{}, false, nil
		}
		i++
		return e.mem[i-1], true, nil
	})
}

// push puts the run that next reads on the heap, by its first entry; an
// empty run is dropped.
func (e *sortedEntries) push(next func() (dirEntry, bool, error)) error {
	d, ok, err := next()
	if ok {
		heap.Push(&e.heap, &run{head: d, next: next})
	}
	return err
}

// next returns the next entry in key order, false after the last.
func (e *sortedEntries) next() (dirEntry, bool, error) {
	if len(e.heap) == 0 {
		return dirEntry{}, false, nil
	}
	r := e.heap[0]
	d := r.head
	head, ok, err := r.next()
	if err != nil {
		return dirEntry{}, false, e.readError(err)
	}
	if ok {
		r.head = head
		heap.Fix(&e.heap, 0)
	} else {
		heap.Pop(&e.heap)
	}
	return d, true, nil
}

func (e *sortedEntries) readError(err error) error {
	return fmt.Errorf("read the sorted entries of %s from a temporary file: %w", e.dir, err)
}

// close closes the temporary file, if one was made.
func (e *sortedEntries) close() {
	if e.tmp != nil {
		e.tmp.Close()
	}
}

// readEntry reads the next entry of a run from br (buf: a buffer for its
// name), false at the end of the run.
func readEntry(br *bufio.Reader, buf *[]byte) (dirEntry, bool, error) {
	n, err := binary.ReadUvarint(br)
	if err == io.EOF {
		return dirEntry{}, false, nil
	}
	if err == nil && n > 1<<16 {
		err = fmt.Errorf("a name of %d bytes", n)
	}
	if err != nil {
		return dirEntry{}, false, err
	}
	*buf = slices.Grow((*buf)[:0], int(n)+1)[:n+1]
	if _, err := io.ReadFull(br, *buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return dirEntry{}, false, err
	}
	d := dirEntry{name: string((*buf)[:n])}
	switch (*buf)[n] {
	case 0:
	case 1:
		d.typ = fs.ModeDir
	default:
		return dirEntry{}, false, fmt.Errorf("entry %q of type %d", d.name, (*buf)[n])
	}
	return d, true, nil
}

// run is one sorted run being merged: head is its next entry, next reads
// the one after.
type run struct {
	head dirEntry
	next func() (dirEntry, bool, error)
}

// runHeap orders runs by their next entry (container/heap).
type runHeap []*run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return compareEntries(h[i].head, h[j].head) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}
