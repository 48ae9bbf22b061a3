package segments

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Chunk object, format version 1: a piece of a base-snapshot file, named by
// the SHA-256 of its raw (uncompressed) bytes. Integers are big-endian.
//
//	key: chunks/HH/<64 lowercase hex of SHA-256(raw bytes)>     HH = the first two hex digits
//
//	offset size  field
//	     0    8  magic "WSHPCHK\x00"
//	     8    2  format version (1)
//	    10    1  codec (0 none, 1 zstd)
//	    11    1  flags (0)
//	    12    8  raw length: bytes after decoding, 1..MaxChunkSize
//	    20    8  stored length: payload bytes that follow, <= raw length
//	    28    4  CRC32C of bytes 0..27
//	    32       stored payload: the codec's encoding of the raw bytes
//
// The header says how to decode and how much to expect; the key says what the
// decoded bytes must hash to, so a reader needs no checksum of its own in the
// body: header CRC, both lengths and the SHA-256 against the key prove it.
// A writer stores the raw bytes (codec none) when zstd does not make them
// smaller, so the stored length never exceeds the raw length.
//
// Content addressing makes chunks immutable and shared: a chunk is written
// once (create-only Put) and every snapshot holding the same bytes refers to
// it. A Put that finds the key taken means the same content is already there.

// ChunkMagic opens every chunk object, whatever its version.
const ChunkMagic = "WSHPCHK\x00"

// ChunkVersion1 is the first chunk format; ChunkHeaderSizeV1 its header size.
const (
	ChunkVersion1     = 1
	ChunkHeaderSizeV1 = 32
)

// MaxChunkSize bounds a chunk's raw length, so a reader never allocates more
// than this for a chunk whatever a header claims.
const MaxChunkSize = 64 << 20

// ChunksPrefix is the key prefix of chunk objects.
const ChunksPrefix = "chunks/"

// Digest is a SHA-256 hash: a chunk's name, a snapshot file's checksum. Its
// text form is 64 lowercase hex digits.
type Digest [32]byte

// DigestOf returns the SHA-256 of b.
func DigestOf(b []byte) Digest { return sha256.Sum256(b) }

func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Compare orders digests as their bytes (and their chunk keys) sort.
func (d Digest) Compare(o Digest) int { return bytes.Compare(d[:], o[:]) }

// IsZero reports whether d is all zero bytes (no digest).
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts exactly 64
// lowercase hex digits.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// ParseDigest parses 64 lowercase hex digits.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 64 || strings.ToLower(s) != s {
		return d, fmt.Errorf("invalid SHA-256 %q: want 64 lowercase hex digits", s)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("invalid SHA-256 %q: want 64 lowercase hex digits", s)
	}
	return d, nil
}

// ChunkKey is the object key of the chunk whose raw bytes hash to d.
func ChunkKey(d Digest) string {
	s := d.String()
	return ChunksPrefix + s[:2] + "/" + s
}

// ParseChunkKey parses a chunk key strictly: the two-digit directory must be
// the hash's first two digits, and anything else under chunks/ is an error.
func ParseChunkKey(key string) (Digest, error) {
	rest, ok := strings.CutPrefix(key, ChunksPrefix)
	dir, name, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || len(dir) != 2 {
		return Digest{}, fmt.Errorf("not a chunk key: %q", key)
	}
	d, err := ParseDigest(name)
	if err != nil || ChunkKey(d) != key {
		return Digest{}, fmt.Errorf("not a chunk key: %q", key)
	}
	return d, nil
}

// chunkHeader describes a chunk object; it is the same for every version.
type chunkHeader struct {
	Version   uint16
	Codec     Codec
	RawLen    uint64
	StoredLen uint64
}

// EncodeChunk appends the version 1 chunk object holding raw to dst and
// returns it. With CodecZstd it falls back to CodecNone when compression
// does not shrink raw. The object's key is ChunkKey(DigestOf(raw)).
func EncodeChunk(dst, raw []byte, codec Codec) ([]byte, error) {
	if len(raw) == 0 || len(raw) > MaxChunkSize {
		return nil, fmt.Errorf("encode chunk: %d bytes, want 1..%d", len(raw), MaxChunkSize)
	}
	start := len(dst)
	dst = append(dst, make([]byte, ChunkHeaderSizeV1)...)
	switch codec {
	case CodecNone:
	case CodecZstd:
		enc := encoders.Get()
		dst = enc.EncodeAll(raw, dst)
		encoders.Put(enc)
		if len(dst)-start-ChunkHeaderSizeV1 >= len(raw) {
			dst = dst[:start+ChunkHeaderSizeV1]
			codec = CodecNone
		}
	default:
		return nil, fmt.Errorf("encode chunk: unknown codec %d", codec)
	}
	if codec == CodecNone {
		dst = append(dst, raw...)
	}
	h := chunkHeader{Version: ChunkVersion1, Codec: codec, RawLen: uint64(len(raw)),
		StoredLen: uint64(len(dst) - start - ChunkHeaderSizeV1)}
	putChunkHeaderV1(dst[start:start+ChunkHeaderSizeV1], h)
	return dst, nil
}

func putChunkHeaderV1(b []byte, h chunkHeader) {
	copy(b[0:8], ChunkMagic)
	binary.BigEndian.PutUint16(b[8:], ChunkVersion1)
	b[10] = byte(h.Codec)
	b[11] = 0
	binary.BigEndian.PutUint64(b[12:], h.RawLen)
	binary.BigEndian.PutUint64(b[20:], h.StoredLen)
	binary.BigEndian.PutUint32(b[28:], CRC32C(b[:28]))
}

// chunkReader reads the rest of a chunk object whose first 10 bytes (magic
// and version) were read already, and returns its verified raw bytes.
type chunkReader func(prefix []byte, r io.Reader, want Digest, o ChunkOptions) (ChunkInfo, []byte, error)

// chunkReaders maps each chunk format version ever written to its reader.
// Adding a version adds an entry and a reader beside v1's; v1's stays.
var chunkReaders = map[uint16]chunkReader{
	ChunkVersion1: func(prefix []byte, r io.Reader, want Digest, _ ChunkOptions) (ChunkInfo, []byte, error) {
		h, raw, err := readChunkV1(prefix, r, want)
		return ChunkInfo{Version: ChunkVersion1, Codec: h.Codec, RawLen: h.RawLen, StoredLen: h.StoredLen,
			Opened: err == nil, Named: err == nil}, raw, err
	},
	ChunkVersion2: readChunkV2,
}

// ReadChunk reads a whole chunk object from r and returns its raw bytes,
// checked: header CRC, lengths, nothing after the payload, and SHA-256 of
// the decoded bytes equal to want (the digest its key names). Memory stays
// bounded by MaxChunkObjectSize whatever the object claims. An encrypted
// chunk needs ReadChunkWith and an identity.
func ReadChunk(r io.Reader, want Digest) ([]byte, error) {
	_, raw, err := ReadChunkWith(r, want, ChunkOptions{})
	return raw, err
}

// DecodeChunk is ReadChunk over an object held in memory.
func DecodeChunk(obj []byte, want Digest) ([]byte, error) {
	return ReadChunk(bytes.NewReader(obj), want)
}

// ReadChunkWith reads a chunk of any version and returns its raw bytes,
// opening an encrypted one with o.Identities (none for its recipients: an
// error matching crypt.ErrNoIdentity naming them, before the payload is
// read) and checking its keyed name with o.Namers. Damage wraps ErrCorrupt.
func ReadChunkWith(r io.Reader, want Digest, o ChunkOptions) (ChunkInfo, []byte, error) {
	o.storedOnly = false
	return readChunk(r, want, o)
}

// CheckChunk checks a chunk as stored, with no key: a version 1 or plain
// chunk in full (decoded and hashed against want), an encrypted one by its
// header, lengths and the SHA-256 of its stored bytes. It is what verify
// without an identity, copy and a restore choosing among stores' copies
// can prove.
func CheckChunk(r io.Reader, want Digest) (ChunkInfo, error) {
	info, _, err := readChunk(r, want, ChunkOptions{storedOnly: true})
	return info, err
}

func readChunk(r io.Reader, want Digest, o ChunkOptions) (ChunkInfo, []byte, error) {
	prefix := make([]byte, 10)
	if _, err := io.ReadFull(r, prefix); err != nil {
		return ChunkInfo{}, nil, fmt.Errorf("%w: chunk %s: read header: %v", ErrCorrupt, want, err)
	}
	if string(prefix[:8]) != ChunkMagic {
		return ChunkInfo{}, nil, fmt.Errorf("%w: chunk %s: not a walship chunk (bad magic %q)", ErrCorrupt, want, prefix[:8])
	}
	v := binary.BigEndian.Uint16(prefix[8:])
	read, ok := chunkReaders[v]
	if !ok {
		return ChunkInfo{}, nil, fmt.Errorf("%w: chunk %s: format version %d; upgrade walship", ErrUnknownVersion, want, v)
	}
	return read(prefix, r, want, o)
}

func readChunkV1(prefix []byte, r io.Reader, want Digest) (chunkHeader, []byte, error) {
	b := make([]byte, ChunkHeaderSizeV1)
	copy(b, prefix)
	if _, err := io.ReadFull(r, b[len(prefix):]); err != nil {
		return chunkHeader{}, nil, fmt.Errorf("%w: chunk %s: read header: %v", ErrCorrupt, want, err)
	}
	h, err := parseChunkHeaderV1(b)
	if err != nil {
		return h, nil, fmt.Errorf("chunk %s: %w", want, err)
	}
	stored, err := readAtMost(r, int(h.StoredLen))
	if err != nil {
		return h, nil, fmt.Errorf("%w: chunk %s: payload shorter than the %d bytes the header says: %v", ErrCorrupt, want, h.StoredLen, err)
	}
	if err := checkEnd(r); err != nil {
		return h, nil, fmt.Errorf("chunk %s: %w", want, err)
	}
	raw := stored
	if h.Codec == CodecZstd {
		if raw, err = unzstdExact(stored, int(h.RawLen)); err != nil {
			return h, nil, fmt.Errorf("%w: chunk %s: %v", ErrCorrupt, want, err)
		}
	}
	if got := DigestOf(raw); got != want {
		return h, nil, fmt.Errorf("%w: chunk %s: content hashes to %s", ErrCorrupt, want, got)
	}
	return h, raw, nil
}

func parseChunkHeaderV1(b []byte) (chunkHeader, error) {
	if got, stored := CRC32C(b[:28]), binary.BigEndian.Uint32(b[28:]); got != stored {
		return chunkHeader{}, fmt.Errorf("%w: header CRC32C %08x, stored %08x", ErrCorrupt, got, stored)
	}
	h := chunkHeader{
		Version:   binary.BigEndian.Uint16(b[8:]),
		Codec:     Codec(b[10]),
		RawLen:    binary.BigEndian.Uint64(b[12:]),
		StoredLen: binary.BigEndian.Uint64(b[20:]),
	}
	switch {
	case b[11] != 0:
		return h, fmt.Errorf("%w: unknown chunk flags %#x", ErrCorrupt, b[11])
	case h.Codec != CodecNone && h.Codec != CodecZstd:
		return h, fmt.Errorf("%w: unknown codec %d", ErrCorrupt, h.Codec)
	case h.RawLen == 0 || h.RawLen > MaxChunkSize:
		return h, fmt.Errorf("%w: raw length %d outside 1..%d", ErrCorrupt, h.RawLen, MaxChunkSize)
	case h.StoredLen > h.RawLen, h.Codec == CodecNone && h.StoredLen != h.RawLen:
		return h, fmt.Errorf("%w: stored length %d does not fit raw length %d (%s)", ErrCorrupt, h.StoredLen, h.RawLen, h.Codec)
	}
	return h, nil
}

// unzstdExact decodes a zstd payload that must yield exactly n bytes; it
// stops reading at n+1, and its memory grows with what the payload really
// decodes to, so a hostile payload cannot make it allocate more.
func unzstdExact(payload []byte, n int) ([]byte, error) {
	dec := decoders.Get()
	defer func() {
		dec.Reset(nil)
		decoders.Put(dec)
	}()
	if err := dec.Reset(bytes.NewReader(payload)); err != nil {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	raw, err := readAtMost(dec, n)
	if err != nil {
		return nil, fmt.Errorf("zstd payload decodes to fewer than the %d bytes the header says: %v", n, err)
	}
	var one [1]byte
	switch _, err := io.ReadFull(dec, one[:]); {
	case err == nil:
		return nil, fmt.Errorf("zstd payload decodes to more than the %d bytes the header says", n)
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("zstd: %v", err)
	}
	return raw, nil
}
