package segments

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/walship/walship/crypt"
)

// Segment object, format version 2. Integers are big-endian. Bytes 0..107
// are laid out as in version 1 and mean the same, except the version and
// the flags.
//
//	offset size  field
//	     0    8  magic "WSHPSEG\x00"
//	     8    2  format version (2)
//	    10    1  codec (0 none, 1 zstd)
//	    11    1  source log format (1 tidwall binary, 2 tidwall JSON)
//	    12    4  flags: bit 0 encrypted; every other bit 0
//	    16    4  timeline
//	    20    8  first index
//	    28    8  last index
//	    36    8  entry count (= last-first+1)
//	    44    8  min entry time, unix ns
//	    52    8  max entry time, unix ns
//	    60    8  raw payload length (the frames, before the codec)
//	    68    8  stored payload length (the bytes after the header)
//	    76   32  SHA-256 of the stored payload (of the ciphertext when
//	             encrypted: verify checks integrity without a key)
//	   108    2  recipient count n: 0 plain, 1..16 encrypted
//	   110   8n  recipients' fingerprints (crypt.Fingerprint), ascending,
//	             no repeats: which identity opens the payload, in the clear
//	110+8n    4  CRC32C of bytes 0..110+8n-1
//	114+8n       stored payload
//
//	stored payload:
//	    plain:     the codec's encoding of the frames (as in version 1)
//	    encrypted: an age envelope (crypt.SealWithFingerprints) to the n
//	               recipients, around the codec's encoding of the frames
//	               (compressed, then encrypted)
//
// The frames are version 1's (index, time, length, CRC32C, data), so a
// version 2 segment holds what a version 1 segment of the same entries
// holds, byte for byte, once opened and decompressed.
//
// The header's size is known when the writer starts (the recipients are),
// so the writer reserves it, streams the payload, then fills it in as
// version 1's does: a segment whose header checks out was finished.
//
// A reader trusts no length: besides version 1's checks it refuses a
// recipient count above MaxRecipients before reading the list, a count
// that disagrees with the encrypted flag, a list out of order, and
// unknown flags. A plain payload with codec none must be as long as the
// raw frames; an encrypted one must be longer (the envelope adds a header,
// a nonce and a tag per 64 KiB).

// Version2 is the segment format with an optional encrypted envelope and
// the recipients' fingerprints in its header.
const Version2 = 2

// MaxRecipients bounds the fingerprints a version 2 header records.
const MaxRecipients = 16

// headerFixedV2 is the size of a version 2 header before the fingerprints.
const headerFixedV2 = 110

// MaxHeaderSize is the largest header of any segment version: a reader
// that fetches this many bytes of an object (or the whole object, when
// smaller) holds its header.
const MaxHeaderSize = headerFixedV2 + MaxRecipients*fingerprintSize + 4

// fingerprintSize is the size of a crypt.Fingerprint (checked below).
const fingerprintSize = 8

var _ [fingerprintSize]byte = crypt.Fingerprint{}

// flagEncrypted marks a version 2 payload sealed in an age envelope.
const flagEncrypted = 1

func headerSizeV2(recipients int) int {
	return headerFixedV2 + recipients*fingerprintSize + 4
}

// HeaderSize is the size of the header h was read from (or is written
// as): the stored payload starts there.
func (h Header) HeaderSize() int64 {
	if h.Version == Version2 {
		return int64(headerSizeV2(len(h.Recipients)))
	}
	return HeaderSizeV1
}

// Encrypted says whether the payload is sealed in an envelope that needs
// an identity to open (version 2 with recipients).
func (h Header) Encrypted() bool { return len(h.Recipients) > 0 }

// CheckIdentities says whether ids can open a segment with header h
// without reading its payload: nil for a plain segment or when one of ids
// is for a recorded recipient, else an error matching crypt.ErrNoIdentity
// that names the recipients' fingerprints.
func (h Header) CheckIdentities(ids []*crypt.Identity) error {
	if !h.Encrypted() {
		return nil
	}
	given := crypt.IdentityFingerprints(ids)
	for _, fp := range given {
		if slices.Contains(h.Recipients, fp) {
			return nil
		}
	}
	return fmt.Errorf("segment %d..%d: %w", h.First, h.Last, &crypt.NoIdentityError{Recorded: slices.Clone(h.Recipients), Given: given})
}

// marshalV2 lays out bytes 0..107 with version 1's encoder, then sets the
// version, the flags and the fingerprints.
func (h *Header) marshalV2() []byte {
	b := make([]byte, headerSizeV2(len(h.Recipients)))
	copy(b, h.marshalV1()[:108])
	binary.BigEndian.PutUint16(b[8:], Version2)
	if h.Encrypted() {
		binary.BigEndian.PutUint32(b[12:], flagEncrypted)
	}
	binary.BigEndian.PutUint16(b[108:], uint16(len(h.Recipients)))
	for i, fp := range h.Recipients {
		copy(b[headerFixedV2+fingerprintSize*i:], fp[:])
	}
	end := len(b) - 4
	binary.BigEndian.PutUint32(b[end:], CRC32C(b[:end]))
	return b
}

// unmarshalV2 checks a whole version 2 header. The fields it shares with
// version 1 are checked by version 1's decoder, on a copy relabelled as
// version 1 (with, for an encrypted payload, the stored length that
// decoder expects of codec none; the real one is checked here).
func unmarshalV2(b []byte) (Header, error) {
	if len(b) < headerFixedV2+4 {
		return Header{}, fmt.Errorf("%w: header is %d bytes, want at least %d", ErrCorrupt, len(b), headerFixedV2+4)
	}
	n := int(binary.BigEndian.Uint16(b[108:]))
	if n > MaxRecipients || len(b) != headerSizeV2(n) {
		return Header{}, fmt.Errorf("%w: header records %d recipients in %d bytes (at most %d recipients)", ErrCorrupt, n, len(b), MaxRecipients)
	}
	end := len(b) - 4
	if got, want := CRC32C(b[:end]), binary.BigEndian.Uint32(b[end:]); got != want {
		return Header{}, fmt.Errorf("%w: header CRC32C %08x, stored %08x", ErrCorrupt, got, want)
	}
	flags := binary.BigEndian.Uint32(b[12:])
	encrypted := flags&flagEncrypted != 0
	if flags&^flagEncrypted != 0 || encrypted != (n > 0) {
		return Header{}, fmt.Errorf("%w: segment flags %#x with %d recipients", ErrCorrupt, flags, n)
	}
	stored := binary.BigEndian.Uint64(b[68:])
	v1 := make([]byte, HeaderSizeV1)
	copy(v1, b[:108])
	binary.BigEndian.PutUint16(v1[8:], Version1)
	binary.BigEndian.PutUint32(v1[12:], 0)
	if encrypted && Codec(b[10]) == CodecNone {
		copy(v1[68:76], b[60:68]) // stored = raw, as v1's check wants
	}
	binary.BigEndian.PutUint32(v1[108:], CRC32C(v1[:108]))
	h, err := unmarshalV1(v1)
	if err != nil {
		return h, err
	}
	h.Version = Version2
	h.PayloadLen = stored
	if stored > uint64(math.MaxInt64-MaxHeaderSize) || (encrypted && h.Codec == CodecNone && stored <= h.RawLen) {
		return h, fmt.Errorf("%w: header says %d raw bytes, %d stored (%s, encrypted %t)", ErrCorrupt, h.RawLen, stored, h.Codec, encrypted)
	}
	for i := range n {
		var fp crypt.Fingerprint
		copy(fp[:], b[headerFixedV2+fingerprintSize*i:])
		if i > 0 && bytes.Compare(h.Recipients[i-1][:], fp[:]) >= 0 {
			return h, fmt.Errorf("%w: recipients' fingerprints out of order", ErrCorrupt)
		}
		h.Recipients = append(h.Recipients, fp)
	}
	return h, nil
}

// readHeaderV2 reads the rest of a version 2 header whose first 10 bytes
// are prefix: the fixed part, then as many fingerprints as it counts (at
// most MaxRecipients, checked before they are read).
func readHeaderV2(prefix []byte, r io.Reader) (Header, error) {
	b := make([]byte, headerFixedV2, MaxHeaderSize)
	copy(b, prefix)
	if _, err := io.ReadFull(r, b[len(prefix):]); err != nil {
		return Header{}, fmt.Errorf("%w: read segment header: %v", ErrCorrupt, err)
	}
	n := int(binary.BigEndian.Uint16(b[108:]))
	if n > MaxRecipients {
		return Header{}, fmt.Errorf("%w: header records %d recipients, at most %d", ErrCorrupt, n, MaxRecipients)
	}
	b = b[:headerSizeV2(n)]
	if _, err := io.ReadFull(r, b[headerFixedV2:]); err != nil {
		return Header{}, fmt.Errorf("%w: read segment header: %v", ErrCorrupt, err)
	}
	return unmarshalV2(b)
}
