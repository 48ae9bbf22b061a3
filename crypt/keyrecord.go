package crypt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
)

// Key record, format version 1: a store's chunk-name secret, sealed to the
// store's recipients, so that a restore, a verify or a second agent can read
// back the secret the agent named chunks with. Integers are big-endian.
//
//	key: keys/chunk-secret/<16 hex secret id>-<16 hex recipients id>.wkey
//	     (KeyRecordKey; recipients id = first 8 bytes of SHA-256 of the
//	     sorted fingerprints: a recipient change writes a new record beside
//	     the old, create-only, and never rewrites one)
//
//	offset  size  field
//	     0     8  magic "WSHPKEY\x00"
//	     8     2  format version (1)
//	    10     1  kind (1: chunk-name secret)
//	    11     1  n: recipient count, 1..MaxKeyRecordRecipients
//	    12     8  secret id (see ChunkSecret.ID)
//	    20    8n  recipient fingerprints, sorted ascending, distinct
//	 20+8n     4  c: ciphertext length, 1..MaxKeyRecordCiphertext
//	 24+8n     4  CRC32C of bytes 0..23+8n
//	 28+8n     c  age ciphertext (see envelope.go) of the 32-byte secret
//
// Nothing follows the ciphertext. The clear part says which secret the record
// holds and which keys open it, so a reader picks a record without trying
// every identity on it; the CRC tells a damaged header from a wrong key; and
// the secret id is checked again against the decrypted secret, so a header
// moved onto another record's ciphertext is refused.

// KeyRecordMagic opens every key record, whatever its version.
const KeyRecordMagic = "WSHPKEY\x00"

// Key record limits and constants.
const (
	KeyRecordVersion1      = 1
	KeyRecordKindChunk     = 1
	MaxKeyRecordRecipients = 64
	MaxKeyRecordCiphertext = 64 << 10
	// MaxKeyRecordSize bounds a whole record: a reader reads no more.
	MaxKeyRecordSize = 28 + 8*MaxKeyRecordRecipients + MaxKeyRecordCiphertext
)

// KeyRecordsPrefix is the key prefix of key records.
const KeyRecordsPrefix = "keys/chunk-secret/"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// KeyRecord is a decoded key record whose ciphertext is not opened yet.
type KeyRecord struct {
	Version      int
	SecretID     SecretID
	Fingerprints []Fingerprint // sorted
	ciphertext   []byte
}

// KeyRecordKey returns the object key of the record for secret id sealed to
// the recipients with fingerprints fps.
func KeyRecordKey(id SecretID, fps []Fingerprint) string {
	fps = sortFingerprints(slices.Clone(fps))
	var b bytes.Buffer
	for _, fp := range fps {
		b.Write(fp[:])
	}
	set := fingerprintOf(b.String())
	return fmt.Sprintf("%s%s-%x.wkey", KeyRecordsPrefix, id, set[:])
}

// EncodeKeyRecord seals s to rs and returns the record's bytes.
func EncodeKeyRecord(s *ChunkSecret, rs []*Recipient) ([]byte, error) {
	fps := Fingerprints(rs)
	if len(fps) == 0 || len(fps) > MaxKeyRecordRecipients {
		return nil, fmt.Errorf("encode key record: %d recipients, want 1..%d", len(fps), MaxKeyRecordRecipients)
	}
	var ct bytes.Buffer
	w, err := Seal(&ct, rs)
	if err != nil {
		return nil, fmt.Errorf("encode key record: %w", err)
	}
	if _, err := w.Write(s.key[:]); err != nil {
		return nil, fmt.Errorf("encode key record: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode key record: %w", err)
	}
	if ct.Len() > MaxKeyRecordCiphertext {
		return nil, fmt.Errorf("encode key record: ciphertext of %d bytes, more than %d", ct.Len(), MaxKeyRecordCiphertext)
	}
	n := len(fps)
	b := make([]byte, 28+8*n, 28+8*n+ct.Len())
	copy(b, KeyRecordMagic)
	binary.BigEndian.PutUint16(b[8:], KeyRecordVersion1)
	b[10] = KeyRecordKindChunk
	b[11] = byte(n)
	copy(b[12:20], s.id[:])
	for i, fp := range fps {
		copy(b[20+8*i:], fp[:])
	}
	binary.BigEndian.PutUint32(b[20+8*n:], uint32(ct.Len()))
	binary.BigEndian.PutUint32(b[24+8*n:], crc32.Checksum(b[:24+8*n], castagnoli))
	return append(b, ct.Bytes()...), nil
}

// ParseKeyRecord checks a record's clear part and returns it, without
// opening the ciphertext: what a listing or verify without identities shows.
// Every error wraps ErrCorrupt.
func ParseKeyRecord(b []byte) (*KeyRecord, error) {
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("parse key record: %w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
	}
	if len(b) < 12 || string(b[:8]) != KeyRecordMagic {
		return nil, corrupt("not a key record (bad magic)")
	}
	if v := binary.BigEndian.Uint16(b[8:]); v != KeyRecordVersion1 {
		return nil, corrupt("format version %d, this build reads 1", v)
	}
	if b[10] != KeyRecordKindChunk {
		return nil, corrupt("kind %d, want %d", b[10], KeyRecordKindChunk)
	}
	n := int(b[11])
	if n < 1 || n > MaxKeyRecordRecipients {
		return nil, corrupt("%d recipients, want 1..%d", n, MaxKeyRecordRecipients)
	}
	hdr := 28 + 8*n
	if len(b) < hdr {
		return nil, corrupt("%d bytes, header needs %d", len(b), hdr)
	}
	if got, want := crc32.Checksum(b[:24+8*n], castagnoli), binary.BigEndian.Uint32(b[24+8*n:]); got != want {
		return nil, corrupt("header CRC32C %08x, recorded %08x", got, want)
	}
	c := binary.BigEndian.Uint32(b[20+8*n:])
	if c < 1 || c > MaxKeyRecordCiphertext {
		return nil, corrupt("ciphertext length %d, want 1..%d", c, MaxKeyRecordCiphertext)
	}
	if uint64(len(b)) != uint64(hdr)+uint64(c) {
		return nil, corrupt("%d bytes, header says %d", len(b), uint64(hdr)+uint64(c))
	}
	rec := &KeyRecord{Version: KeyRecordVersion1, ciphertext: b[hdr:]}
	copy(rec.SecretID[:], b[12:20])
	for i := range n {
		var fp Fingerprint
		copy(fp[:], b[20+8*i:])
		if i > 0 && bytes.Compare(rec.Fingerprints[i-1][:], fp[:]) >= 0 {
			return nil, corrupt("fingerprints not sorted and distinct")
		}
		rec.Fingerprints = append(rec.Fingerprints, fp)
	}
	return rec, nil
}

// Open decrypts the record's secret with ids. No matching identity gives a
// *NoIdentityError naming the record's fingerprints; damage wraps ErrCorrupt
// (ErrAuth for the ciphertext).
func (rec *KeyRecord) Open(ids []*Identity) (*ChunkSecret, error) {
	r, err := OpenRecorded(bytes.NewReader(rec.ciphertext), ids, rec.Fingerprints)
	if err != nil {
		return nil, fmt.Errorf("open key record for secret id %s: %w", rec.SecretID, err)
	}
	var k [ChunkSecretSize]byte
	buf := make([]byte, ChunkSecretSize+1)
	defer clear(buf)
	got, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return nil, fmt.Errorf("open key record for secret id %s: %w: more than %d bytes sealed", rec.SecretID, ErrCorrupt, ChunkSecretSize)
	case errors.Is(err, ErrCorrupt):
		return nil, fmt.Errorf("open key record for secret id %s: %w", rec.SecretID, err)
	case err == io.ErrUnexpectedEOF && got == ChunkSecretSize:
		// exactly the secret, then the end
	default:
		return nil, fmt.Errorf("open key record for secret id %s: %w: %d bytes sealed, want %d (%v)", rec.SecretID, ErrCorrupt, got, ChunkSecretSize, err)
	}
	copy(k[:], buf)
	s := chunkSecretFrom(k)
	if s.id != rec.SecretID {
		return nil, fmt.Errorf("open key record for secret id %s: %w: it holds secret id %s", rec.SecretID, ErrCorrupt, s.id)
	}
	return s, nil
}

// DecodeKeyRecord parses a record and opens its secret with ids.
func DecodeKeyRecord(b []byte, ids []*Identity) (*ChunkSecret, error) {
	rec, err := ParseKeyRecord(b)
	if err != nil {
		return nil, err
	}
	return rec.Open(ids)
}

// IsKeyRecordKey reports whether key names a key record.
func IsKeyRecordKey(key string) bool {
	return strings.HasPrefix(key, KeyRecordsPrefix) && strings.HasSuffix(key, ".wkey")
}
