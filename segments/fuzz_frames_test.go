package segments

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

// FuzzSegmentFrames fuzzes the frames behind a header that checks out. A
// mutated object rarely keeps its header CRC and payload SHA-256, so
// FuzzSegmentReader seldom reaches deep into the frames; a hostile writer
// with access to a store computes both. Here the fuzzer picks the raw frames
// and what the header claims, and the test seals them properly.
func FuzzSegmentFrames(f *testing.F) {
	obj, h := encode(f, makeEntries(12, 1000, 3), CodecNone)
	f.Add(obj[HeaderSizeV1:], h.First, uint16(h.Count), int64(0), false)
	f.Add(obj[HeaderSizeV1:], h.First, uint16(h.Count), int64(0), true)
	f.Add(obj[HeaderSizeV1:HeaderSizeV1+frameHeaderSize], uint64(1), uint16(1), int64(MaxEntrySize), true)
	f.Fuzz(func(t *testing.T, raw []byte, first uint64, count uint16, rawDelta int64, zstd bool) {
		b := sealFrames(raw, first, uint64(count), uint64(int64(len(raw))+rawDelta), zstd)
		var es []Entry
		var err error
		alloc := allocated(func() { es, _, err = decodeAll(b) })
		if limit := uint64(fuzzAllocSlack + 4*len(raw)); alloc > limit {
			t.Fatalf("decoding %d raw bytes allocated %d, limit %d", len(raw), alloc, limit)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if rawDelta != 0 || uint64(len(es)) != uint64(count) {
			t.Fatalf("accepted %d entries, header claims %d, raw length off by %d", len(es), count, rawDelta)
		}
		// Frames that decode are exactly what the writer writes for them.
		again := reencode(t, es, Header{Timeline: 1, SourceFormat: 1, Codec: CodecNone})
		if !bytes.Equal(again[HeaderSizeV1:], raw) {
			t.Fatalf("re-encoded frames differ from the accepted ones")
		}
	})
}

// sealFrames makes a segment object of raw frames with a header that
// checks out (CRC, payload SHA-256) and claims what it is told.
func sealFrames(raw []byte, first, count, rawLen uint64, zstd bool) []byte {
	payload, codec := raw, CodecNone
	if zstd {
		enc := encoders.Get()
		payload, codec = enc.EncodeAll(raw, nil), CodecZstd
		encoders.Put(enc)
	}
	h := Header{Version: Version1, Codec: codec, SourceFormat: 1, Timeline: 1,
		First: first, Last: first + count - 1, Count: count,
		RawLen: rawLen, PayloadLen: uint64(len(payload)), PayloadSHA: sha256.Sum256(payload)}
	return append(h.marshalV1(), payload...)
}
