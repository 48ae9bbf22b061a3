package segments

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/walship/walship/crypt"
)

// Chunk object, format version 2: a chunk that may be encrypted, with the
// SHA-256 of its stored bytes in the clear so that it is checked without a
// key. Integers are big-endian.
//
//	key, encrypted: chunks/HH/<64 hex of HMAC-SHA256(naming key, raw bytes)>
//	                (crypt.ChunkNamer; the manifest names the secret)
//	key, plain:     chunks/HH/<64 hex of SHA-256(raw bytes)>, as version 1
//
//	offset size  field
//	     0    8  magic "WSHPCHK\x00"
//	     8    2  format version (2)
//	    10    1  codec (0 none, 1 zstd)
//	    11    1  flags: bit 0 encrypted; every other bit 0
//	    12    8  raw length: bytes after decoding, 1..MaxChunkSize
//	    20    8  stored length: payload bytes that follow
//	    28   32  SHA-256 of the stored payload (the ciphertext when encrypted)
//	    60    2  recipient count n: 0 plain, 1..MaxRecipients encrypted
//	    62   8n  recipients' fingerprints (crypt.Fingerprint), ascending,
//	             no repeats
//	 62+8n    4  CRC32C of bytes 0..61+8n
//	 66+8n       stored payload
//
//	stored payload:
//	    plain:     the codec's encoding of the raw bytes (as in version 1)
//	    encrypted: an age envelope (crypt.Seal) to the n recipients around
//	               the codec's encoding (compressed, then encrypted)
//
// What a reader checks depends on what it holds: without an identity the
// header, the stored length, nothing after the payload and the stored
// SHA-256 (CheckChunk: verify, copy, a restore choosing a store's copy);
// with an identity also the envelope (every 64 KiB authenticated), the
// decoded length, and, given the store's chunk namer, the keyed name of
// the raw bytes against the key. A reader with an identity but no namer
// leaves the name to the file's SHA-256 in the manifest.
//
// A stored length is bounded by the raw length plus the envelope's
// overhead (maxSealedLen), so a reader never allocates more than
// MaxChunkObjectSize whatever a header claims.

// ChunkVersion2 is the chunk format with an optional age envelope.
const ChunkVersion2 = 2

const chunkFixedV2 = 62

// chunkHeaderSizeV2 is the size of a version 2 header recording n
// recipients.
func chunkHeaderSizeV2(n int) int { return chunkFixedV2 + n*fingerprintSize + 4 }

// maxSealedLen bounds the envelope around n bytes sealed to r recipients:
// age's header (a stanza per recipient, about 100 bytes each, a MAC line),
// a 16-byte nonce and a 16-byte tag per 64 KiB.
func maxSealedLen(n uint64, r int) uint64 {
	return n + 1024 + 256*uint64(r) + 16*(n/(64<<10)+2)
}

// MaxChunkObjectSize bounds the size of a chunk object of any version.
var MaxChunkObjectSize = int64(chunkHeaderSizeV2(MaxRecipients)) + int64(maxSealedLen(MaxChunkSize, MaxRecipients))

// ChunkInfo says how a chunk is stored and how far a read checked it.
type ChunkInfo struct {
	Version    int
	Codec      Codec
	RawLen     uint64
	StoredLen  uint64
	Recipients []crypt.Fingerprint // nil: plain
	// Opened: the raw bytes were decoded and checked (always, for a plain
	// chunk). Named: they were checked against the key (SHA-256 for a
	// plain chunk, the keyed name for an encrypted one).
	Opened, Named bool
}

// Encrypted reports whether the chunk is sealed to recipients.
func (i ChunkInfo) Encrypted() bool { return len(i.Recipients) > 0 }

// ChunkOptions say what a reader holds to open and check encrypted chunks.
type ChunkOptions struct {
	Identities []*crypt.Identity
	// Namers are the store's chunk namers (one per secret); an encrypted
	// chunk's raw bytes must be named by one of them as its key says. With
	// none the name is not checked (the manifest's file SHA-256 is).
	Namers []*crypt.ChunkNamer
	// storedOnly checks an encrypted chunk as stored, without opening it.
	storedOnly bool
}

// EncodeChunkFor returns the chunk object holding raw appended to dst:
// version 1 without recipients (key ChunkKey(DigestOf(raw))), else version
// 2 sealed to rs (key ChunkKey of the store's keyed name of raw).
func EncodeChunkFor(dst, raw []byte, codec Codec, rs []*crypt.Recipient) ([]byte, error) {
	if len(rs) == 0 {
		return EncodeChunk(dst, raw, codec)
	}
	return encodeChunkV2(dst, raw, codec, rs)
}

// encodeChunkV2 writes a version 2 chunk: sealed to rs, or plain when rs
// is empty.
func encodeChunkV2(dst, raw []byte, codec Codec, rs []*crypt.Recipient) ([]byte, error) {
	if len(raw) == 0 || len(raw) > MaxChunkSize {
		return nil, fmt.Errorf("encode chunk: %d bytes, want 1..%d", len(raw), MaxChunkSize)
	}
	fps := crypt.Fingerprints(rs)
	if len(fps) > MaxRecipients {
		return nil, fmt.Errorf("encode chunk: %d recipients, at most %d", len(fps), MaxRecipients)
	}
	enc, err := EncodeChunk(nil, raw, codec) // v1 does the codec and its fallback
	if err != nil {
		return nil, err
	}
	codec = Codec(enc[10])
	payload := enc[ChunkHeaderSizeV1:]
	hsize := chunkHeaderSizeV2(len(fps))
	start := len(dst)
	dst = append(dst, make([]byte, hsize)...)
	if len(fps) == 0 {
		dst = append(dst, payload...)
	} else {
		buf := bytes.NewBuffer(dst)
		w, err := crypt.Seal(buf, rs)
		if err != nil {
			return nil, fmt.Errorf("encode chunk: %w", err)
		}
		if _, err := w.Write(payload); err != nil {
			return nil, fmt.Errorf("encode chunk: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("encode chunk: %w", err)
		}
		dst = buf.Bytes()
	}
	stored := dst[start+hsize:]
	b := dst[start : start+hsize]
	copy(b, ChunkMagic)
	binary.BigEndian.PutUint16(b[8:], ChunkVersion2)
	b[10] = byte(codec)
	if len(fps) > 0 {
		b[11] = flagEncrypted
	}
	binary.BigEndian.PutUint64(b[12:], uint64(len(raw)))
	binary.BigEndian.PutUint64(b[20:], uint64(len(stored)))
	sum := sha256.Sum256(stored)
	copy(b[28:60], sum[:])
	binary.BigEndian.PutUint16(b[60:], uint16(len(fps)))
	for i, fp := range fps {
		copy(b[chunkFixedV2+fingerprintSize*i:], fp[:])
	}
	binary.BigEndian.PutUint32(b[hsize-4:], CRC32C(b[:hsize-4]))
	return dst, nil
}

// chunkHeaderV2 is a parsed version 2 header.
type chunkHeaderV2 struct {
	info   ChunkInfo
	sha256 [32]byte
}

// readChunkHeaderV2 reads the rest of a version 2 header whose first 10
// bytes are prefix, bounding the recipient count before reading the list.
func readChunkHeaderV2(prefix []byte, r io.Reader) (chunkHeaderV2, error) {
	b := make([]byte, chunkFixedV2, chunkHeaderSizeV2(MaxRecipients))
	copy(b, prefix)
	if _, err := io.ReadFull(r, b[len(prefix):]); err != nil {
		return chunkHeaderV2{}, fmt.Errorf("%w: read header: %v", ErrCorrupt, err)
	}
	n := int(binary.BigEndian.Uint16(b[60:]))
	if n > MaxRecipients {
		return chunkHeaderV2{}, fmt.Errorf("%w: header records %d recipients, at most %d", ErrCorrupt, n, MaxRecipients)
	}
	b = b[:chunkHeaderSizeV2(n)]
	if _, err := io.ReadFull(r, b[chunkFixedV2:]); err != nil {
		return chunkHeaderV2{}, fmt.Errorf("%w: read header: %v", ErrCorrupt, err)
	}
	return parseChunkHeaderV2(b)
}

func parseChunkHeaderV2(b []byte) (chunkHeaderV2, error) {
	end := len(b) - 4
	if got, stored := CRC32C(b[:end]), binary.BigEndian.Uint32(b[end:]); got != stored {
		return chunkHeaderV2{}, fmt.Errorf("%w: header CRC32C %08x, stored %08x", ErrCorrupt, got, stored)
	}
	h := chunkHeaderV2{info: ChunkInfo{
		Version:   ChunkVersion2,
		Codec:     Codec(b[10]),
		RawLen:    binary.BigEndian.Uint64(b[12:]),
		StoredLen: binary.BigEndian.Uint64(b[20:]),
	}}
	copy(h.sha256[:], b[28:60])
	n := int(binary.BigEndian.Uint16(b[60:]))
	for i := range n {
		var fp crypt.Fingerprint
		copy(fp[:], b[chunkFixedV2+fingerprintSize*i:])
		if i > 0 && bytes.Compare(h.info.Recipients[i-1][:], fp[:]) >= 0 {
			return h, fmt.Errorf("%w: recipients' fingerprints out of order", ErrCorrupt)
		}
		h.info.Recipients = append(h.info.Recipients, fp)
	}
	encrypted := b[11]&flagEncrypted != 0
	raw, stored, codec := h.info.RawLen, h.info.StoredLen, h.info.Codec
	switch {
	case b[11]&^flagEncrypted != 0 || encrypted != (n > 0):
		return h, fmt.Errorf("%w: chunk flags %#x with %d recipients", ErrCorrupt, b[11], n)
	case codec != CodecNone && codec != CodecZstd:
		return h, fmt.Errorf("%w: unknown codec %d", ErrCorrupt, codec)
	case raw == 0 || raw > MaxChunkSize:
		return h, fmt.Errorf("%w: raw length %d outside 1..%d", ErrCorrupt, raw, MaxChunkSize)
	case !encrypted && (stored > raw || (codec == CodecNone && stored != raw)),
		encrypted && (stored <= 32 || stored > maxSealedLen(raw, n)):
		return h, fmt.Errorf("%w: stored length %d does not fit raw length %d (%s, encrypted %t)", ErrCorrupt, stored, raw, codec, encrypted)
	}
	return h, nil
}

// readChunkV2 reads a version 2 chunk after its prefix: the payload is read
// whole (bounded by the header's checked lengths) and hashed as stored
// before anything is decrypted or decoded.
func readChunkV2(prefix []byte, r io.Reader, want Digest, o ChunkOptions) (ChunkInfo, []byte, error) {
	h, err := readChunkHeaderV2(prefix, r)
	if err != nil {
		return h.info, nil, fmt.Errorf("chunk %s: %w", want, err)
	}
	info := h.info
	if info.Encrypted() && !o.storedOnly {
		if err := checkChunkIdentities(info, want, o.Identities); err != nil {
			return info, nil, err
		}
	}
	stored, err := readAtMost(r, int(info.StoredLen))
	if err != nil {
		return info, nil, fmt.Errorf("%w: chunk %s: payload shorter than the %d bytes the header says: %v", ErrCorrupt, want, info.StoredLen, err)
	}
	if err := checkEnd(r); err != nil {
		return info, nil, fmt.Errorf("chunk %s: %w", want, err)
	}
	if got := sha256.Sum256(stored); got != h.sha256 {
		return info, nil, fmt.Errorf("%w: chunk %s: stored bytes hash to %x, the header says %x", ErrCorrupt, want, got, h.sha256)
	}
	if info.Encrypted() && o.storedOnly {
		return info, nil, nil
	}
	encoded := stored
	if info.Encrypted() {
		if encoded, err = openChunkPayload(info, want, stored, o.Identities); err != nil {
			return info, nil, err
		}
	}
	raw := encoded
	switch {
	case info.Codec == CodecZstd && uint64(len(encoded)) >= info.RawLen,
		info.Codec == CodecNone && uint64(len(encoded)) != info.RawLen:
		return info, nil, fmt.Errorf("%w: chunk %s: %d encoded bytes for %d raw (%s)", ErrCorrupt, want, len(encoded), info.RawLen, info.Codec)
	case info.Codec == CodecZstd:
		if raw, err = unzstdExact(encoded, int(info.RawLen)); err != nil {
			return info, nil, fmt.Errorf("%w: chunk %s: %v", ErrCorrupt, want, err)
		}
	}
	info.Opened = true
	if err := checkChunkName(&info, want, raw, o.Namers); err != nil {
		return info, nil, err
	}
	return info, raw, nil
}

func checkChunkIdentities(info ChunkInfo, want Digest, ids []*crypt.Identity) error {
	given := crypt.IdentityFingerprints(ids)
	for _, fp := range given {
		if slices.Contains(info.Recipients, fp) {
			return nil
		}
	}
	return fmt.Errorf("chunk %s: %w", want, &crypt.NoIdentityError{Recorded: slices.Clone(info.Recipients), Given: given})
}

// openChunkPayload decrypts a stored payload; the codec's encoding is at
// most the raw length (a writer falls back to none), so more is damage.
func openChunkPayload(info ChunkInfo, want Digest, stored []byte, ids []*crypt.Identity) ([]byte, error) {
	pr, err := crypt.OpenRecorded(bytes.NewReader(stored), ids, info.Recipients)
	if err != nil {
		return nil, chunkEnvelopeError(want, err)
	}
	encoded, err := io.ReadAll(io.LimitReader(pr, int64(info.RawLen)+1))
	if err != nil {
		return nil, chunkEnvelopeError(want, err)
	}
	return encoded, nil
}

func chunkEnvelopeError(want Digest, err error) error {
	if errors.Is(err, crypt.ErrCorrupt) {
		return fmt.Errorf("%w: chunk %s: %w", ErrCorrupt, want, err)
	}
	return fmt.Errorf("chunk %s: %w", want, err)
}

// checkChunkName checks raw against the key: SHA-256 for a plain chunk, the
// keyed name under one of namers for an encrypted one (none: unchecked).
func checkChunkName(info *ChunkInfo, want Digest, raw []byte, namers []*crypt.ChunkNamer) error {
	if !info.Encrypted() {
		if got := DigestOf(raw); got != want {
			return fmt.Errorf("%w: chunk %s: content hashes to %s", ErrCorrupt, want, got)
		}
		info.Named = true
		return nil
	}
	if len(namers) == 0 {
		return nil
	}
	for _, n := range namers {
		if n != nil && Digest(n.Name(raw)) == want {
			info.Named = true
			return nil
		}
	}
	return fmt.Errorf("%w: chunk %s: content is not named so under the store's chunk secret(s)", ErrCorrupt, want)
}
