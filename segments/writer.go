package segments

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"
)

// Sink is where a Writer puts a segment: it appends the payload and then
// fills in the header at offset 0 (an *os.File is one).
type Sink interface {
	io.Writer
	io.WriterAt
}

// Writer streams entries into a version 1 segment. Memory stays bounded by
// the codec's window, whatever the segment's size. Not safe for concurrent
// use.
type Writer struct {
	sink   Sink
	buf    *bufio.Writer // between the payload and the sink: one write per 256 KiB, not per entry
	hdr    Header
	sha    hash.Hash
	stored countWriter // counts and hashes what reaches the sink
	enc    *zstd.Encoder
	raw    io.Writer // enc, or &stored for CodecNone
	frame  [frameHeaderSize]byte
	done   bool
}

// NewWriter starts a segment of the given timeline on sink, which must be
// empty.
func NewWriter(sink Sink, timeline uint32, sourceFormat uint8, codec Codec) (*Writer, error) {
	w := &Writer{sink: sink, sha: sha256.New()}
	w.hdr = Header{Version: Version1, Codec: codec, SourceFormat: sourceFormat, Timeline: timeline,
		MinTime: math.MaxInt64, MaxTime: math.MinInt64}
	if _, err := sink.Write(make([]byte, HeaderSizeV1)); err != nil {
		return nil, fmt.Errorf("segment writer: reserve header: %w", err)
	}
	w.buf = bufio.NewWriterSize(sink, writeBuffer)
	w.stored = countWriter{w: io.MultiWriter(w.buf, w.sha)}
	switch codec {
	case CodecNone:
		w.raw = &w.stored
	case CodecZstd:
		w.enc = encoders.Get()
		w.enc.Reset(&w.stored)
		w.raw = w.enc
	default:
		return nil, fmt.Errorf("segment writer: unknown codec %d", codec)
	}
	return w, nil
}

// Append adds the next entry. Indexes must be consecutive.
func (w *Writer) Append(e Entry) error { return w.AppendCRC(e, CRC32C(e.Data)) }

// AppendCRC is Append with the entry's CRC32C computed by the caller, from
// the data as it read it (the agent, from the source): data damaged on its
// way to the writer then fails the segment's check at restore instead of
// being sealed under a CRC of its own.
func (w *Writer) AppendCRC(e Entry, crc uint32) error {
	if w.done {
		return errors.New("segment writer: append after finish")
	}
	if len(e.Data) > MaxEntrySize {
		return fmt.Errorf("segment writer: entry %d is %d bytes, max %d", e.Index, len(e.Data), MaxEntrySize)
	}
	binary.BigEndian.PutUint64(w.frame[0:], e.Index)
	binary.BigEndian.PutUint64(w.frame[8:], uint64(e.Time))
	binary.BigEndian.PutUint32(w.frame[16:], uint32(len(e.Data)))
	binary.BigEndian.PutUint32(w.frame[20:], crc)
	if _, err := w.addFrame(w.frame[:]); err != nil {
		return err
	}
	if _, err := w.raw.Write(w.frame[:]); err != nil {
		return fmt.Errorf("segment writer: entry %d: %w", e.Index, err)
	}
	if _, err := w.raw.Write(e.Data); err != nil {
		return fmt.Errorf("segment writer: entry %d: %w", e.Index, err)
	}
	return nil
}

// Count is the number of entries appended.
func (w *Writer) Count() uint64 { return w.hdr.Count }

// RawLen is the uncompressed size of what was appended, the measure a
// segment is sealed by.
func (w *Writer) RawLen() uint64 { return w.hdr.RawLen }

// Finish flushes the payload and writes the header. The caller syncs the
// sink. A segment needs at least one entry.
func (w *Writer) Finish() (Header, error) {
	if w.done {
		return Header{}, errors.New("segment writer: finish twice")
	}
	if w.hdr.Count == 0 {
		w.Abort()
		return Header{}, errors.New("segment writer: no entries")
	}
	w.done = true
	if w.enc != nil {
		err := w.enc.Close()
		encoders.Put(w.enc)
		w.enc = nil
		if err != nil {
			return Header{}, fmt.Errorf("segment writer: compress: %w", err)
		}
	}
	if err := w.buf.Flush(); err != nil {
		return Header{}, fmt.Errorf("segment writer: %w", err)
	}
	w.hdr.PayloadLen = uint64(w.stored.n)
	copy(w.hdr.PayloadSHA[:], w.sha.Sum(nil))
	if _, err := w.sink.WriteAt(w.hdr.marshalV1(), 0); err != nil {
		return Header{}, fmt.Errorf("segment writer: write header: %w", err)
	}
	return w.hdr, nil
}

// Abort releases the writer's resources without finishing; the sink holds
// garbage and must be discarded.
func (w *Writer) Abort() {
	w.done = true
	if w.enc != nil {
		w.enc.Reset(nil)
		encoders.Put(w.enc)
		w.enc = nil
	}
}

// writeBuffer is how much of the payload a Writer gathers before writing
// to its sink (without it, an uncompressed segment costs two writes per
// entry).
const writeBuffer = 256 << 10

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
