package crypt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

// FuzzOpen opens arbitrary bytes with a fixed identity: it must never panic,
// never return more plaintext than there was ciphertext, and fail only as
// damage or as a missing identity (the source is memory: no I/O errors).
func FuzzOpen(f *testing.F) {
	id0, r0 := testIdentity(f, 0)
	_, r1 := testIdentity(f, 1)
	_, r2 := testIdentity(f, 2)
	small := []byte("walship fuzz seed")
	f.Add(seal(f, small, r0))
	f.Add(seal(f, small, r0, r1))
	f.Add(seal(f, small, r2))
	f.Add(seal(f, nil, r0))
	big := seal(f, bytes.Repeat([]byte("x"), 64<<10+1), r0)
	f.Add(big)
	f.Add(big[:len(big)-1])
	f.Add([]byte("age-encryption.org/v1\n-> X25519 \n--- \n"))
	f.Add([]byte{})
	ids := []*Identity{id0}
	fps := []Fingerprint{r0.Fingerprint()}
	f.Fuzz(func(t *testing.T, ct []byte) {
		for _, recorded := range [][]Fingerprint{nil, fps} {
			r, err := OpenRecorded(bytes.NewReader(ct), ids, recorded)
			var n int64
			if err == nil {
				n, err = io.Copy(io.Discard, r)
			}
			if err == nil {
				if n > int64(len(ct)) {
					t.Fatalf("%d bytes of plaintext from %d of ciphertext", n, len(ct))
				}
				continue
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoIdentity) {
				t.Fatalf("unclassified error: %v", err)
			}
		}
	})
}

// FuzzDecodeKeyRecord decodes arbitrary bytes as a key record: never a
// panic; errors are damage or a missing identity; a secret returned is the
// one the clear header names.
func FuzzDecodeKeyRecord(f *testing.F) {
	id0, r0 := testIdentity(f, 0)
	_, r1 := testIdentity(f, 1)
	var k [ChunkSecretSize]byte
	s := chunkSecretFrom(k)
	for _, rs := range [][]*Recipient{{r0}, {r0, r1}, {r1}} {
		b, err := EncodeKeyRecord(s, rs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(KeyRecordMagic + "\x00\x01\x01\x01"))
	f.Add([]byte{})
	ids := []*Identity{id0}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			got, err := DecodeKeyRecord(b, ids)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoIdentity) {
					t.Fatalf("unclassified error: %v", err)
				}
				return
			}
			rec, err := ParseKeyRecord(b)
			if err != nil {
				t.Fatalf("decoded, yet the header does not parse: %v", err)
			}
			if got.ID() != rec.SecretID {
				t.Fatalf("secret id %s, header says %s", got.ID(), rec.SecretID)
			}
		}
		check(b)
		// The same bytes with the header CRC made right, so mutations reach
		// the lengths, the fingerprints and the ciphertext.
		if len(b) >= 12 {
			if n := int(b[11]); 28+8*n <= len(b) {
				fixed := bytes.Clone(b)
				binary.BigEndian.PutUint32(fixed[24+8*n:], crc32.Checksum(fixed[:24+8*n], castagnoli))
				check(fixed)
			}
		}
	})
}

// FuzzParseKeys parses arbitrary text as an identity file, a recipient list
// and a chunk-secret file: never a panic, and an error never repeats a line
// that looks like a secret key.
func FuzzParseKeys(f *testing.F) {
	f.Add("# key\n" + testKeys[0].secret + "\n")
	f.Add(testKeys[0].public + "\n" + testKeys[1].public)
	f.Add(testKeys[0].secret[:30] + "x" + testKeys[0].secret[31:])
	f.Add("# chunk secret\n" + strings.Repeat("0f", 32) + "\n")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, text string) {
		ids, err := parseIdentityLines([]byte(text), "fuzz", "fuzz")
		if err != nil {
			for _, line := range strings.Split(text, "\n") {
				line = strings.TrimSpace(line)
				if len(line) > 20 && strings.HasPrefix(line, "AGE-SECRET-KEY-") && strings.Contains(err.Error(), line) {
					t.Fatalf("error repeats a key line: %v", err)
				}
			}
		}
		for _, id := range ids {
			r, ok := id.Recipient()
			if !ok || r.Fingerprint() != id.Fingerprint() {
				t.Fatalf("identity fingerprint %s, its recipient's %v", id.Fingerprint(), r)
			}
		}
		_, _ = parseRecipientLines(strings.Split(text, "\n"), "fuzz", "line")
		if s, err := parseChunkSecret([]byte(text)); err == nil && s.ID() != chunkSecretFrom(s.key).ID() {
			t.Fatal("secret id does not follow the secret")
		}
	})
}
