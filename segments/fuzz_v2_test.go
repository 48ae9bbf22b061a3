package segments

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/walship/walship/crypt"
)

// FuzzSegmentReaderV2 fuzzes version 2 objects, read with the fixed test
// identity and without one. Each input is also tried with its header CRC
// made right (as crypt's key record fuzzing does), so the fuzzer reaches
// the recipient list, the lengths, the envelope and the frames rather than
// stopping at the CRC. Errors must be ErrCorrupt, ErrUnknownVersion or
// crypt.ErrNoIdentity; never a panic or a large allocation; what decodes
// is whole and passes CheckStored.
func FuzzSegmentReaderV2(f *testing.F) {
	id, r := fixedIdentity(f)
	_, other := newIdentity(f)
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		f.Add(first(encodeV2(f, makeEntries(5, 7, 1), codec)))
		f.Add(first(encodeV2(f, makeEntries(5, 7, 1), codec, r)))
		f.Add(first(encodeV2(f, makeEntries(3, 1, 2), codec, r, other)))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		fuzzV2Object(t, obj, id)
		if fixed, ok := fixHeaderCRCV2(obj); ok {
			fuzzV2Object(t, fixed, id)
		}
	})
}

func fuzzV2Object(t *testing.T, obj []byte, id *crypt.Identity) {
	for _, ids := range [][]*crypt.Identity{nil, {id}} {
		var es []Entry
		var h Header
		var err error
		alloc := allocated(func() { es, h, err = decodeWith(obj, ids...) })
		decoded := decompressedSize(obj, ids)
		limit := uint64(fuzzAllocSlack + 8*len(obj) + 4*int(decoded))
		if alloc > limit {
			t.Fatalf("decoding %d bytes (%d decompressed) allocated %d, limit %d", len(obj), decoded, alloc, limit)
		}
		// The reader a restore uses on bytes fetch checked: bounded on any
		// bytes; where CheckStoredWith accepts them, the full reader's result.
		var ces []Entry
		var cherr error
		if alloc := allocated(func() { ces, _, cherr = decodeOpts(obj, ReadOptions{Identities: ids, Checked: true}) }); alloc > limit {
			t.Fatalf("checked reader: decoding %d bytes allocated %d, limit %d", len(obj), alloc, limit)
		}
		if _, cerr := CheckStoredWith(bytes.NewReader(obj), ReadOptions{Identities: ids}); cerr == nil && ((err == nil) != (cherr == nil) || !sameEntries(es, ces)) {
			t.Fatalf("checked reader: %d entries, err %v; full reader: %d entries, err %v", len(ces), cherr, len(es), err)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) && !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("error %v is none of ErrCorrupt, ErrUnknownVersion, ErrNoIdentity", err)
			}
			if errors.Is(err, crypt.ErrNoIdentity) && len(ids) > 0 && slices.Contains(h.Recipients, id.Fingerprint()) {
				t.Fatalf("ErrNoIdentity though the header records the identity given: %v", err)
			}
			continue
		}
		if _, cerr := CheckStoredWith(bytes.NewReader(obj), ReadOptions{Identities: ids}); cerr != nil {
			t.Fatalf("Reader accepts the object, CheckStoredWith says %v", cerr)
		}
		if uint64(len(es)) != h.Count || es[0].Index != h.First || es[len(es)-1].Index != h.Last {
			t.Fatalf("%d entries, header says %d: %d..%d", len(es), h.Count, h.First, h.Last)
		}
		if h.Encrypted() && len(ids) == 0 {
			t.Fatal("an encrypted segment decoded without an identity")
		}
	}
}

// decompressedSize is what obj's zstd payload decodes to (opened with ids
// when encrypted), up to 1 GiB: the most a reader may have to hold.
func decompressedSize(obj []byte, ids []*crypt.Identity) int64 {
	h, raw, err := ReadHeader(bytes.NewReader(obj))
	if err != nil || h.Codec != CodecZstd {
		return 0
	}
	payload := obj[len(raw):]
	if h.Encrypted() {
		pr, err := crypt.OpenRecorded(bytes.NewReader(payload), ids, h.Recipients)
		if err != nil {
			return 0
		}
		if payload, err = io.ReadAll(io.LimitReader(pr, 1<<30)); err != nil && len(payload) == 0 {
			return 0
		}
	}
	return zstdOutput(payload, 1<<30)
}

// fixHeaderCRCV2 returns obj with its version 2 header's CRC made right,
// when obj is long enough to hold the header its recipient count says.
func fixHeaderCRCV2(obj []byte) ([]byte, bool) {
	if len(obj) < headerFixedV2+4 || string(obj[:8]) != Magic || binary.BigEndian.Uint16(obj[8:]) != Version2 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(obj[108:]))
	if n > MaxRecipients || len(obj) < headerSizeV2(n) {
		return nil, false
	}
	b := bytes.Clone(obj)
	end := headerSizeV2(n) - 4
	binary.BigEndian.PutUint32(b[end:], CRC32C(b[:end]))
	return b, !bytes.Equal(b, obj)
}
