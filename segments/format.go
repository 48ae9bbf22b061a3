package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/walship/walship/crypt"
)

// Segment object, format version 1. Integers are big-endian.
//
//	offset size  field
//	     0    8  magic "WSHPSEG\x00"
//	     8    2  format version (1)
//	    10    1  codec (0 none, 1 zstd)
//	    11    1  source log format (1 tidwall binary, 2 tidwall JSON)
//	    12    4  flags (0)
//	    16    4  timeline
//	    20    8  first index
//	    28    8  last index
//	    36    8  entry count (= last-first+1)
//	    44    8  min entry time, unix ns
//	    52    8  max entry time, unix ns
//	    60    8  raw payload length (before the codec)
//	    68    8  stored payload length (after the codec)
//	    76   32  SHA-256 of the stored payload
//	   108    4  CRC32C of bytes 0..107
//	   112       stored payload: the codec's encoding of the frames
//
//	frame (raw payload), repeated count times, indexes consecutive:
//	     0    8  index
//	     8    8  entry time, unix ns
//	    16    4  data length
//	    20    4  CRC32C of data
//	    24    n  data
//
// The header is written last (the writer reserves it, streams the payload,
// then fills it in), so a segment whose header checks out was finished.
//
// A reader trusts no length: it rejects a header whose flags are not 0,
// whose raw length cannot hold count frame headers, or (codec none) whose
// stored length differs from its raw length; it decodes at most raw length
// + 1 bytes; and it allocates an entry's data as the bytes arrive, so a
// frame claiming up to MaxEntrySize in a short object costs little.

// Magic opens every segment object, whatever its version.
const Magic = "WSHPSEG\x00"

// HeaderSizeV1 is the size of a version 1 header.
const HeaderSizeV1 = 112

// frameHeaderSize is the size of a frame header in the raw payload.
const frameHeaderSize = 24

// RawSize is what an entry of n data bytes adds to a segment's RawLen.
func RawSize(n int) uint64 { return frameHeaderSize + uint64(n) }

// MaxEntrySize bounds one entry's data; a larger length in a frame is
// corruption.
const MaxEntrySize = 1 << 30

// Version1 is the first segment format.
const Version1 = 1

// Codec is how a segment's payload is compressed.
type Codec uint8

// Codecs. Stored in headers: never renumber.
const (
	CodecNone Codec = 0
	CodecZstd Codec = 1
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// ParseCodec parses "zstd" or "none".
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "", "zstd":
		return CodecZstd, nil
	case "none":
		return CodecNone, nil
	}
	return 0, fmt.Errorf("unknown compression %q: want zstd or none", s)
}

// Header describes a sealed segment; it is the same for every version's
// reader.
type Header struct {
	Version      uint16
	Codec        Codec
	SourceFormat uint8 // wal.Format of the source log
	Timeline     uint32
	First, Last  uint64
	Count        uint64
	MinTime      int64 // unix ns
	MaxTime      int64 // unix ns
	RawLen       uint64
	PayloadLen   uint64
	PayloadSHA   [32]byte
	// Recipients (version 2) are the fingerprints of the keys the payload
	// is sealed to, recorded in the clear; empty for a plain payload.
	Recipients []crypt.Fingerprint
}

// ObjectSize is the segment object's total size in bytes.
func (h Header) ObjectSize() int64 { return h.HeaderSize() + int64(h.PayloadLen) }

// MaxTimeUTC returns MaxTime as a time.
func (h Header) MaxTimeUTC() time.Time { return time.Unix(0, h.MaxTime).UTC() }

// Entry is one log entry inside a segment.
type Entry struct {
	Index uint64
	Time  int64 // unix ns
	Data  []byte
}

// Errors.
var (
	// ErrCorrupt: an object fails a checksum or does not parse.
	ErrCorrupt = errors.New("corrupt object")
	// ErrUnknownVersion: no reader is registered for an object's version.
	ErrUnknownVersion = errors.New("unknown object format version")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the Castagnoli CRC of b, the checksum walship keeps per
// entry.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func (h *Header) marshalV1() []byte {
	b := make([]byte, HeaderSizeV1)
	copy(b[0:8], Magic)
	binary.BigEndian.PutUint16(b[8:], Version1)
	b[10] = byte(h.Codec)
	b[11] = h.SourceFormat
	binary.BigEndian.PutUint32(b[16:], h.Timeline)
	binary.BigEndian.PutUint64(b[20:], h.First)
	binary.BigEndian.PutUint64(b[28:], h.Last)
	binary.BigEndian.PutUint64(b[36:], h.Count)
	binary.BigEndian.PutUint64(b[44:], uint64(h.MinTime))
	binary.BigEndian.PutUint64(b[52:], uint64(h.MaxTime))
	binary.BigEndian.PutUint64(b[60:], h.RawLen)
	binary.BigEndian.PutUint64(b[68:], h.PayloadLen)
	copy(b[76:108], h.PayloadSHA[:])
	binary.BigEndian.PutUint32(b[108:], CRC32C(b[:108]))
	return b
}

func unmarshalV1(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderSizeV1 {
		return h, fmt.Errorf("%w: header is %d bytes, want %d", ErrCorrupt, len(b), HeaderSizeV1)
	}
	if got, want := CRC32C(b[:108]), binary.BigEndian.Uint32(b[108:]); got != want {
		return h, fmt.Errorf("%w: header CRC32C %08x, stored %08x", ErrCorrupt, got, want)
	}
	h.Version = binary.BigEndian.Uint16(b[8:])
	h.Codec = Codec(b[10])
	h.SourceFormat = b[11]
	h.Timeline = binary.BigEndian.Uint32(b[16:])
	h.First = binary.BigEndian.Uint64(b[20:])
	h.Last = binary.BigEndian.Uint64(b[28:])
	h.Count = binary.BigEndian.Uint64(b[36:])
	h.MinTime = int64(binary.BigEndian.Uint64(b[44:]))
	h.MaxTime = int64(binary.BigEndian.Uint64(b[52:]))
	h.RawLen = binary.BigEndian.Uint64(b[60:])
	h.PayloadLen = binary.BigEndian.Uint64(b[68:])
	copy(h.PayloadSHA[:], b[76:108])
	if h.First == 0 || h.Last < h.First || h.Count != h.Last-h.First+1 {
		return h, fmt.Errorf("%w: header says entries %d..%d, count %d", ErrCorrupt, h.First, h.Last, h.Count)
	}
	if h.Codec != CodecNone && h.Codec != CodecZstd {
		return h, fmt.Errorf("%w: unknown codec %d", ErrCorrupt, h.Codec)
	}
	if flags := binary.BigEndian.Uint32(b[12:]); flags != 0 {
		return h, fmt.Errorf("%w: unknown segment flags %#x", ErrCorrupt, flags)
	}
	// Lengths that cannot hold the frames the header counts; RawLen must
	// also fit an int64, the largest object a reader can be given.
	if h.Count > h.RawLen/frameHeaderSize || h.RawLen > math.MaxInt64-1 || h.PayloadLen > math.MaxInt64-HeaderSizeV1 ||
		(h.Codec == CodecNone && h.PayloadLen != h.RawLen) {
		return h, fmt.Errorf("%w: header says %d entries in %d raw bytes, %d stored (%s)", ErrCorrupt, h.Count, h.RawLen, h.PayloadLen, h.Codec)
	}
	return h, nil
}
