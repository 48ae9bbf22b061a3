package segments

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// maxHostileAlloc bounds what a reader may allocate for a small hostile
// object, whatever its header and frames claim.
const maxHostileAlloc = 16 << 20

// allocated returns the bytes fn allocates (TotalAlloc delta: every
// allocation counts, even if collected at once; no GC needed).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostileSegment returns a segment with a valid header CRC and payload
// SHA-256 whose one frame claims dataLen bytes of data (none follow), and
// whose header claims raw length rawLen.
func hostileSegment(codec Codec, dataLen uint32, rawLen uint64) []byte {
	frame := make([]byte, frameHeaderSize)
	binary.BigEndian.PutUint64(frame[0:], 1)
	binary.BigEndian.PutUint32(frame[16:], dataLen)
	payload := frame
	if codec == CodecZstd {
		enc := encoders.Get()
		payload = enc.EncodeAll(frame, nil)
		encoders.Put(enc)
	}
	h := Header{Version: Version1, Codec: codec, SourceFormat: 1, Timeline: 1, First: 1, Last: 1, Count: 1,
		RawLen: rawLen, PayloadLen: uint64(len(payload)), PayloadSHA: sha256.Sum256(payload)}
	if codec == CodecNone {
		h.PayloadLen = rawLen // the header must agree; the object is short
	}
	return append(h.marshalV1(), payload...)
}

// TestHostileSegmentAllocation: a 136-byte segment (header, one frame
// header) claiming a 1 GiB entry used to make the reader allocate 1 GiB. It
// must fail as corrupt, allocating little.
func TestHostileSegmentAllocation(t *testing.T) {
	// Warm the zstd decoder cache: its first decoder's tables are not the
	// object's doing.
	good, _ := encode(t, makeEntries(3, 1, 1), CodecZstd)
	if _, _, err := decodeAll(good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		obj  []byte
	}{
		{"none, 1 GiB entry", hostileSegment(CodecNone, MaxEntrySize, MaxEntrySize+frameHeaderSize)},
		{"none, huge raw length", hostileSegment(CodecNone, MaxEntrySize, 1<<62)},
		{"zstd, 1 GiB entry", hostileSegment(CodecZstd, MaxEntrySize, MaxEntrySize+frameHeaderSize)},
		{"zstd, huge raw length", hostileSegment(CodecZstd, MaxEntrySize, 1<<62)},
	}
	if n := len(cases[0].obj); n != 136 {
		t.Fatalf("hostile segment is %d bytes, want 136", n)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := unmarshalV1(c.obj[:HeaderSizeV1]); err != nil {
				t.Fatalf("the hostile header must pass its own checks: %v", err)
			}
			var err error
			n := allocated(func() { _, _, err = decodeAll(c.obj) })
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("decode: %v, want ErrCorrupt", err)
			}
			if n > maxHostileAlloc {
				t.Errorf("decoding a %d-byte object allocated %d bytes, want < %d", len(c.obj), n, maxHostileAlloc)
			}
		})
	}
}

// TestHostileHeaderLengths: header lengths that cannot hold the frames
// counted, or that overflow, are refused before any payload is read.
func TestHostileHeaderLengths(t *testing.T) {
	base := Header{Version: Version1, Codec: CodecZstd, Timeline: 1, First: 1, Last: 10, Count: 10, RawLen: 240, PayloadLen: 50}
	for name, mod := range map[string]func(*Header){
		"raw too short":        func(h *Header) { h.RawLen = 239 },
		"raw overflows int64":  func(h *Header) { h.RawLen = 1 << 63 },
		"payload overflows":    func(h *Header) { h.PayloadLen = 1<<63 - 1 },
		"none, stored != raw":  func(h *Header) { h.Codec = CodecNone },
		"huge count, tiny raw": func(h *Header) { h.Last = 1 << 62; h.Count = h.Last }, // Count*24 would overflow
	} {
		h := base
		mod(&h)
		if _, err := unmarshalV1(h.marshalV1()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	b := base.marshalV1()
	if _, err := unmarshalV1(b); err != nil {
		t.Fatalf("base header: %v", err)
	}
	b[12] = 1 // flags
	binary.BigEndian.PutUint32(b[108:], CRC32C(b[:108]))
	if _, err := unmarshalV1(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flags: %v, want ErrCorrupt", err)
	}
}

// TestHostileChunkAllocation: a chunk header claiming the largest chunk,
// with (almost) no payload, fails without allocating the claimed size.
func TestHostileChunkAllocation(t *testing.T) {
	hdr := func(codec Codec, raw, stored uint64) []byte {
		b := make([]byte, ChunkHeaderSizeV1)
		putChunkHeaderV1(b, chunkHeader{Version: ChunkVersion1, Codec: codec, RawLen: raw, StoredLen: stored})
		return b
	}
	enc := encoders.Get()
	text := bytes.Repeat([]byte("ten bytes!"), 10)
	small := enc.EncodeAll(text, nil)
	encoders.Put(enc)
	cases := map[string][]byte{
		"none, no payload": hdr(CodecNone, MaxChunkSize, MaxChunkSize),
		"zstd, no payload": hdr(CodecZstd, MaxChunkSize, MaxChunkSize),
		"zstd, 100 bytes":  append(hdr(CodecZstd, MaxChunkSize, uint64(len(small))), small...),
	}
	if _, err := DecodeChunk(append(hdr(CodecZstd, uint64(len(text)), uint64(len(small))), small...), DigestOf(text)); err != nil {
		t.Fatalf("a valid small chunk: %v", err)
	}
	for name, obj := range cases {
		var err error
		n := allocated(func() { _, err = DecodeChunk(obj, Digest{}) })
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
		if n > maxHostileAlloc {
			t.Errorf("%s: decoding a %d-byte chunk allocated %d bytes, want < %d", name, len(obj), n, maxHostileAlloc)
		}
	}
	if !bytes.Equal(hdr(CodecNone, 1, 1)[:8], []byte(ChunkMagic)) {
		t.Fatal("chunk header helper")
	}
}
