package segments

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"github.com/walship/walship/crypt"
)

// SegmentWriter is what a Writer (version 1) and a WriterV2 both do: a
// sealer writes through it whichever version it was configured for.
type SegmentWriter interface {
	Append(e Entry) error
	Count() uint64
	RawLen() uint64
	Finish() (Header, error)
	Abort()
}

var (
	_ SegmentWriter = (*Writer)(nil)
	_ SegmentWriter = (*WriterV2)(nil)
)

// WriterV2 streams entries into a version 2 segment: the frames and codec
// of version 1, sealed to recipients when there are any. Memory stays
// bounded by the codec's window and the envelope's 64 KiB chunk, whatever
// the segment's size. Not safe for concurrent use.
//
// The frames are written by a version 1 Writer whose payload is passed on
// (its reserved header dropped, its final header ignored) into the
// envelope or, plain, straight to the sink; so both versions frame and
// compress entries with the same code.
type WriterV2 struct {
	sink   Sink
	frames *Writer
	fps    []crypt.Fingerprint
	seal   io.WriteCloser // nil when plain
	sha    hash.Hash      // of the ciphertext, when encrypted
	stored countWriter    // counts (and hashes, when encrypted) what reaches the sink
	done   bool
}

// NewWriterV2 starts a version 2 segment of the given timeline on sink,
// which must be empty. With recipients (at most MaxRecipients distinct
// ones) the payload is compressed, then encrypted to all of them; with
// none it is plain.
func NewWriterV2(sink Sink, timeline uint32, sourceFormat uint8, codec Codec, recipients []*crypt.Recipient) (*WriterV2, error) {
	fps := crypt.Fingerprints(recipients)
	if len(fps) > MaxRecipients {
		return nil, fmt.Errorf("segment writer: %d recipients, at most %d", len(fps), MaxRecipients)
	}
	if len(fps) == 0 {
		fps = nil // as a reader reports a plain header
	}
	w := &WriterV2{sink: sink, fps: fps}
	if _, err := sink.Write(make([]byte, headerSizeV2(len(fps)))); err != nil {
		return nil, fmt.Errorf("segment writer: reserve header: %w", err)
	}
	w.stored = countWriter{w: sink}
	payload := io.Writer(&w.stored)
	if len(recipients) > 0 {
		w.sha = sha256.New()
		w.stored.w = io.MultiWriter(sink, w.sha)
		seal, sealed, err := crypt.SealWithFingerprints(&w.stored, recipients)
		if err != nil {
			return nil, fmt.Errorf("segment writer: %w", err)
		}
		if !slices.Equal(sealed, fps) {
			return nil, errors.New("segment writer: the envelope's recipients differ from the header's")
		}
		w.seal, payload = seal, seal
	}
	frames, err := NewWriter(&payloadSink{w: payload, skip: HeaderSizeV1}, timeline, sourceFormat, codec)
	if err != nil {
		return nil, err
	}
	w.frames = frames
	return w, nil
}

// Append adds the next entry. Indexes must be consecutive.
func (w *WriterV2) Append(e Entry) error { return w.frames.Append(e) }

// Count is the number of entries appended.
func (w *WriterV2) Count() uint64 { return w.frames.Count() }

// RawLen is the uncompressed size of the frames appended, the measure a
// segment is sealed by.
func (w *WriterV2) RawLen() uint64 { return w.frames.RawLen() }

// Finish flushes the payload (the codec, then the envelope) and writes the
// header. The caller syncs the sink. A segment needs at least one entry.
func (w *WriterV2) Finish() (Header, error) {
	if w.done {
		return Header{}, errors.New("segment writer: finish twice")
	}
	w.done = true
	h, err := w.frames.Finish()
	if err != nil {
		return Header{}, err
	}
	h.Version = Version2
	h.Recipients = w.fps
	if w.seal != nil {
		if err := w.seal.Close(); err != nil {
			return Header{}, fmt.Errorf("segment writer: %w", err)
		}
		h.PayloadLen = uint64(w.stored.n)
		copy(h.PayloadSHA[:], w.sha.Sum(nil))
	} else if h.PayloadLen != uint64(w.stored.n) {
		return Header{}, fmt.Errorf("segment writer: %d payload bytes written, %d counted", w.stored.n, h.PayloadLen)
	}
	if _, err := w.sink.WriteAt(h.marshalV2(), 0); err != nil {
		return Header{}, fmt.Errorf("segment writer: write header: %w", err)
	}
	return h, nil
}

// Abort releases the writer's resources without finishing; the sink holds
// garbage and must be discarded.
func (w *WriterV2) Abort() {
	w.done = true
	w.frames.Abort()
}

// payloadSink takes a version 1 Writer's output and passes on only its
// payload: the first skip bytes (the header it reserves) are dropped, and
// its header, written at offset 0 when it finishes, is ignored.
type payloadSink struct {
	w    io.Writer
	skip int
}

func (p *payloadSink) Write(b []byte) (int, error) {
	n := len(b)
	drop := min(p.skip, n)
	p.skip -= drop
	if drop == n {
		return n, nil
	}
	if _, err := p.w.Write(b[drop:]); err != nil {
		return 0, err
	}
	return n, nil
}

func (p *payloadSink) WriteAt(b []byte, off int64) (int, error) {
	if off != 0 || p.skip != 0 {
		return 0, fmt.Errorf("segment writer: unexpected write of %d bytes at %d", len(b), off)
	}
	return len(b), nil
}
