package agent

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/walship/walship/segments"
)

// spill holds the entries of a segment being filled, uncompressed, in a
// file of the spool (open-N.tmp) rather than on the heap: the agent's
// memory stays flat however many segments wait for a compression worker,
// and the bytes mostly live and die in the page cache (the file is never
// fsynced and is removed once the segment is compressed). Each entry, with
// the CRC32C of its data as the sealer read it from the source, framed as
// a segment's raw payload frames it (segments/format.go), so sealing
// passes the file's bytes to the codec as they are:
//
//	+----------+----------+---------+-----------+------------+
//	| index u64| time i64 | len u32 | crc32c u32| data (len) |   big-endian
//	+----------+----------+---------+-----------+------------+
//
// It is discarded on restart like any open file; its entries are read
// again from the source.
type spill struct {
	f *os.File
	w *bufio.Writer
	n int               // entries
	h [spillHeader]byte // add's frame header (a local would escape: an allocation per entry)
}

const spillHeader = 24

func (s *spool) newSpill() (*spill, error) {
	f, err := s.create()
	if err != nil {
		return nil, err
	}
	return &spill{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// add appends an entry and the CRC32C of its data.
func (sp *spill) add(e segments.Entry, crc uint32) error {
	h := &sp.h
	binary.BigEndian.PutUint64(h[0:], e.Index)
	binary.BigEndian.PutUint64(h[8:], uint64(e.Time))
	binary.BigEndian.PutUint32(h[16:], uint32(len(e.Data)))
	binary.BigEndian.PutUint32(h[20:], crc)
	if _, err := sp.w.Write(h[:]); err != nil {
		return fmt.Errorf("spill entry %d: %w", e.Index, err)
	}
	if _, err := sp.w.Write(e.Data); err != nil {
		return fmt.Errorf("spill entry %d: %w", e.Index, err)
	}
	sp.n++
	return nil
}

// finish flushes what was added; the spill is then read with each.
func (sp *spill) finish() error {
	if err := sp.w.Flush(); err != nil {
		return fmt.Errorf("spill %s: %w", sp.f.Name(), err)
	}
	return nil
}

// seal appends every entry, with its CRC32C, to w: the spill's frames are
// the segment payload's frames, so they go to the codec as read, checked
// frame by frame (segments.Writer.AppendFrames).
func (sp *spill) seal(w *segments.Writer) error {
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spill %s: %w", sp.f.Name(), err)
	}
	if err := w.AppendFrames(sp.f, sp.n); err != nil {
		return fmt.Errorf("seal spill %s: %w", sp.f.Name(), err)
	}
	return nil
}

// remove closes and deletes the spill file.
func (sp *spill) remove() {
	sp.f.Close()
	os.Remove(sp.f.Name())
}
