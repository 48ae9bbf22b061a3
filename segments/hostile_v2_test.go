package segments

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/walship/walship/crypt"
)

// v2Header returns a marshalled version 2 header after mod changed it, the
// CRC made right (a hostile writer computes it).
func v2Header(h Header, mod func(b []byte) []byte) []byte {
	b := h.marshalV2()
	if mod != nil {
		b = mod(b)
	}
	end := len(b) - 4
	binary.BigEndian.PutUint32(b[end:], CRC32C(b[:end]))
	return b
}

// TestHostileV2Header: header fields that lie are refused with ErrCorrupt
// before any payload is read, the CRC made right each time.
func TestHostileV2Header(t *testing.T) {
	fpA, fpB := crypt.Fingerprint{1}, crypt.Fingerprint{2}
	plain := Header{Version: Version2, Codec: CodecZstd, Timeline: 1, First: 1, Last: 10, Count: 10, RawLen: 240, PayloadLen: 50}
	sealed := plain
	sealed.Codec = CodecNone
	sealed.PayloadLen = 400
	sealed.Recipients = []crypt.Fingerprint{fpA, fpB}
	for _, h := range []Header{plain, sealed} {
		if _, err := unmarshalV2(v2Header(h, nil)); err != nil {
			t.Fatalf("base header %+v: %v", h, err)
		}
	}
	setU16 := func(off int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint16(b[off:], v); return b }
	}
	setU32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], v); return b }
	}
	setU64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint64(b[off:], v); return b }
	}
	cases := []struct {
		name string
		h    Header
		mod  func([]byte) []byte
	}{
		{"count above the list", sealed, setU16(108, 3)},
		{"count below the list", sealed, setU16(108, 1)},
		{"count 17", sealed, setU16(108, MaxRecipients+1)},
		{"count 65535", sealed, setU16(108, 0xffff)},
		{"encrypted flag, no recipients", plain, setU32(12, flagEncrypted)},
		{"recipients, no flag", sealed, setU32(12, 0)},
		{"unknown flag", plain, setU32(12, 2)},
		{"fingerprints out of order", sealed, func(b []byte) []byte {
			copy(b[headerFixedV2:], fpB[:])
			copy(b[headerFixedV2+8:], fpA[:])
			return b
		}},
		{"fingerprint repeated", sealed, func(b []byte) []byte { copy(b[headerFixedV2+8:], fpA[:]); return b }},
		{"raw too short", plain, setU64(60, 239)},
		{"raw overflows int64", plain, setU64(60, 1<<63)},
		{"stored overflows", plain, setU64(68, 1<<63-1)},
		{"plain none, stored != raw", plain, func(b []byte) []byte { b[10] = byte(CodecNone); return b }},
		{"encrypted none, stored = raw", sealed, setU64(68, 240)},
		{"encrypted none, stored < raw", sealed, setU64(68, 10)},
		{"huge count, tiny raw", plain, func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[28:], 1<<62)
			binary.BigEndian.PutUint64(b[36:], 1<<62)
			return b
		}},
		{"unknown codec", plain, func(b []byte) []byte { b[10] = 9; return b }},
	}
	for _, c := range cases {
		b := v2Header(c.h, c.mod)
		if _, err := unmarshalV2(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: unmarshal: %v, want ErrCorrupt", c.name, err)
		}
		// Through the reader, with the header's own length (the count
		// decides how much is read) and a payload that would otherwise do.
		obj := append(b, make([]byte, 512)...)
		if _, err := NewReader(bytes.NewReader(obj)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: reader: %v, want ErrCorrupt", c.name, err)
		}
		if _, err := CheckStored(bytes.NewReader(obj)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: CheckStored: %v, want ErrCorrupt", c.name, err)
		}
	}
}

// hostileSegmentV2 is hostileSegment as version 2: one frame claiming
// dataLen bytes, none following, valid CRC and SHA-256; sealed to r when
// given (the frame is what the envelope opens to).
func hostileSegmentV2(t *testing.T, codec Codec, dataLen uint32, rawLen uint64, r *crypt.Recipient) []byte {
	v1 := hostileSegment(codec, dataLen, rawLen)
	payload := v1[HeaderSizeV1:]
	h, err := unmarshalV1(v1[:HeaderSizeV1])
	if err != nil {
		t.Fatal(err)
	}
	h.Version = Version2
	if r != nil {
		var buf bytes.Buffer
		w, fps, err := crypt.SealWithFingerprints(&buf, []*crypt.Recipient{r})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(payload)
		w.Close()
		payload, h.Recipients = buf.Bytes(), fps
		h.PayloadLen, h.PayloadSHA = uint64(len(payload)), sha256.Sum256(payload)
		if codec == CodecNone {
			h.RawLen = min(h.RawLen, h.PayloadLen-1) // an encrypted payload is longer than its plaintext
		}
	}
	return append(h.marshalV2(), payload...)
}

// TestHostileV2Allocation: a small version 2 object whose frame claims a
// 1 GiB entry fails as corrupt, allocating little, plain or encrypted.
func TestHostileV2Allocation(t *testing.T) {
	id, r := newIdentity(t)
	good, _ := encodeV2(t, makeEntries(3, 1, 1), CodecZstd, r)
	if _, _, err := decodeWith(good, id); err != nil { // warm the decoder cache
		t.Fatal(err)
	}
	for _, rc := range []*crypt.Recipient{nil, r} {
		for _, codec := range []Codec{CodecNone, CodecZstd} {
			for _, raw := range []uint64{MaxEntrySize + frameHeaderSize, 1 << 62} {
				obj := hostileSegmentV2(t, codec, MaxEntrySize, raw, rc)
				if _, err := CheckStored(bytes.NewReader(obj)); err != nil && codec == CodecZstd {
					t.Fatalf("the hostile object must pass CheckStored: %v", err)
				}
				var err error
				n := allocated(func() { _, _, err = decodeWith(obj, id) })
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s, encrypted %t, raw %d: %v, want ErrCorrupt", codec, rc != nil, raw, err)
				}
				if n > maxHostileAlloc {
					t.Errorf("%s, encrypted %t: decoding %d bytes allocated %d", codec, rc != nil, len(obj), n)
				}
			}
		}
	}
}

// TestHostileV2Truncated: a header cut anywhere, including inside the
// fingerprint list, is ErrCorrupt for every reader of it.
func TestHostileV2Truncated(t *testing.T) {
	_, r1 := newIdentity(t)
	_, r2 := newIdentity(t)
	b, h := encodeV2(t, makeEntries(3, 1, 1), CodecZstd, r1, r2)
	for cut := range int(h.HeaderSize()) {
		if _, _, err := ReadHeader(bytes.NewReader(b[:cut])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("header cut to %d: %v", cut, err)
		}
		if _, err := NewReader(bytes.NewReader(b[:cut])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("header cut to %d: reader says %v", cut, err)
		}
	}
}
