package crypt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestKeyRecordRoundTrip(t *testing.T) {
	id0, r0 := testIdentity(t, 0)
	id1, r1 := testIdentity(t, 1)
	id2, _ := testIdentity(t, 2)
	s, err := NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeKeyRecord(s, []*Recipient{r1, r0})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ParseKeyRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec.SecretID != s.ID() || !equalFPs(rec.Fingerprints, Fingerprints([]*Recipient{r0, r1})) {
		t.Fatalf("clear part: id %s fps %v", rec.SecretID, rec.Fingerprints)
	}
	for _, id := range []*Identity{id0, id1} {
		got, err := DecodeKeyRecord(b, []*Identity{id})
		if err != nil {
			t.Fatalf("open with %v: %v", id, err)
		}
		if !got.Equal(s) {
			t.Fatalf("open with %v: another secret", id)
		}
		// The secret read back names chunks as the agent's did.
		if NewChunkNamer(got).Name([]byte("x")) != NewChunkNamer(s).Name([]byte("x")) {
			t.Fatal("names differ after the round trip")
		}
	}
	_, err = DecodeKeyRecord(b, []*Identity{id2})
	if !errors.Is(err, ErrNoIdentity) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("third identity: %v, want ErrNoIdentity", err)
	}
	for _, fp := range rec.Fingerprints {
		if !strings.Contains(err.Error(), fp.String()) {
			t.Errorf("error %q does not name fp %s", err, fp)
		}
	}
	if bytes.Contains(b, s.key[:]) {
		t.Fatal("record holds the secret in clear")
	}

	// Passphrase records open with the passphrase.
	t.Setenv("TEST_WALSHIP_PASS", "pw")
	pr, pid, err := PassphraseFromEnv("TEST_WALSHIP_PASS", 10)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := EncodeKeyRecord(s, []*Recipient{pr})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeKeyRecord(pb, []*Identity{pid}); err != nil || !got.Equal(s) {
		t.Fatalf("passphrase record: %v", err)
	}
}

func TestKeyRecordKey(t *testing.T) {
	_, r0 := testIdentity(t, 0)
	_, r1 := testIdentity(t, 1)
	var id SecretID
	copy(id[:], "\x01\x02\x03\x04\x05\x06\x07\x08")
	a := KeyRecordKey(id, Fingerprints([]*Recipient{r0, r1}))
	b := KeyRecordKey(id, []Fingerprint{r1.Fingerprint(), r0.Fingerprint(), r1.Fingerprint()})
	c := KeyRecordKey(id, Fingerprints([]*Recipient{r0}))
	if a != b {
		t.Fatalf("order or repeats change the key: %s %s", a, b)
	}
	if a == c {
		t.Fatal("another recipient set, same key")
	}
	if !strings.HasPrefix(a, KeyRecordsPrefix+"0102030405060708-") || !IsKeyRecordKey(a) || len(a) != len(KeyRecordsPrefix)+16+1+16+len(".wkey") {
		t.Fatalf("key %s", a)
	}
}

func TestKeyRecordDamage(t *testing.T) {
	id0, r0 := testIdentity(t, 0)
	_, r1 := testIdentity(t, 1)
	s, _ := NewChunkSecret()
	b, err := EncodeKeyRecord(s, []*Recipient{r0, r1})
	if err != nil {
		t.Fatal(err)
	}
	ids := []*Identity{id0}
	// Every flipped byte and every cut fails as damage, without a panic.
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x20
		if _, err := DecodeKeyRecord(bad, ids); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d: %v, want ErrCorrupt", i, err)
		}
	}
	for n := range len(b) {
		if _, err := DecodeKeyRecord(b[:n], ids); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v, want ErrCorrupt", n, err)
		}
	}
	if _, err := DecodeKeyRecord(append(bytes.Clone(b), 0), ids); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}

	// A header naming another secret id, with a good CRC, on this ciphertext:
	// refused once the secret is opened.
	other := bytes.Clone(b)
	other[12] ^= 0xff
	n := int(other[11])
	binary.BigEndian.PutUint32(other[24+8*n:], crc32.Checksum(other[:24+8*n], castagnoli))
	if _, err := ParseKeyRecord(other); err != nil {
		t.Fatalf("re-checksummed header: %v", err)
	}
	if _, err := DecodeKeyRecord(other, ids); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), s.ID().String()) {
		t.Fatalf("moved header: %v, want ErrCorrupt naming the real id", err)
	}

	// Hostile headers: counts and lengths out of range, unsorted prints.
	for name, mut := range map[string]func([]byte){
		"zero recipients":  func(h []byte) { h[11] = 0 },
		"200 recipients":   func(h []byte) { h[11] = 200 },
		"version 2":        func(h []byte) { h[9] = 2 },
		"kind 2":           func(h []byte) { h[10] = 2 },
		"huge ciphertext":  func(h []byte) { binary.BigEndian.PutUint32(h[20+8*n:], 1<<31) },
		"empty ciphertext": func(h []byte) { binary.BigEndian.PutUint32(h[20+8*n:], 0) },
		"unsorted": func(h []byte) {
			var t [8]byte
			copy(t[:], h[20:28])
			copy(h[20:28], h[28:36])
			copy(h[28:36], t[:])
		},
	} {
		bad := bytes.Clone(b)
		mut(bad)
		if k := int(bad[11]); k >= 1 && 28+8*k <= len(bad) {
			binary.BigEndian.PutUint32(bad[24+8*k:], crc32.Checksum(bad[:24+8*k], castagnoli))
		}
		if _, err := ParseKeyRecord(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
