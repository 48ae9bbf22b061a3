package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChunkNamer(t *testing.T) {
	s1, err := NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	if s1.Equal(s2) || s1.ID() == s2.ID() {
		t.Fatal("two new secrets are equal")
	}
	n1, n1b, n2 := NewChunkNamer(s1), NewChunkNamer(s1), NewChunkNamer(s2)
	a, b := []byte("chunk of a base snapshot"), []byte("another chunk")

	// Dedup within a store: same secret, same bytes, same name.
	if n1.Name(a) != n1b.Name(a) {
		t.Fatal("one secret names the same bytes twice differently")
	}
	if n1.Name(a) == n1.Name(b) {
		t.Fatal("different bytes, one name")
	}
	// Keyed: not the plaintext's SHA-256, and another store's secret names
	// the same bytes differently.
	if n1.Name(a) == sha256.Sum256(a) {
		t.Fatal("chunk name is the plaintext SHA-256")
	}
	if n1.Name(a) == n2.Name(a) {
		t.Fatal("two secrets, one name")
	}
	// Streaming gives the same name.
	h := n1.New()
	h.Write(a[:5])
	h.Write(a[5:])
	if got, want := h.Sum(nil), n1.Name(a); !bytes.Equal(got, want[:]) {
		t.Fatal("streaming name differs")
	}
	if n1.SecretID() != s1.ID() {
		t.Fatal("namer secret id")
	}
	// Fixed secret, fixed names: names are stored forever.
	var k [ChunkSecretSize]byte
	for i := range k {
		k[i] = byte(i)
	}
	fixed := chunkSecretFrom(k)
	name := NewChunkNamer(fixed).Name([]byte("walship"))
	if got := fixed.ID().String() + " " + hexOf(name[:]); got != fixedNames {
		t.Fatalf("fixed secret: %s, want %s", got, fixedNames)
	}
}

// fixedNames is the secret id and name of "walship" under secret 00 01 .. 1f,
// computed apart from this package (RFC 5869 HKDF-SHA256 and HMAC-SHA256).
const fixedNames = "b3ed0fb29c395e2f 32085af83a8647eb536e8a66738fbcf10ff91358ff23dd305ac2ead8cacecaf3"

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func TestChunkSecretFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ChunkSecretFile)
	s, err := NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadChunkSecretFile(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("absent: %v, want ErrNotExist", err)
	}
	if err := WriteChunkSecretFile(p, s); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
	}
	back, err := ReadChunkSecretFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) {
		t.Fatal("read back a different secret")
	}
	// Create-only: a second write fails and keeps the first secret.
	s2, _ := NewChunkSecret()
	if err := WriteChunkSecretFile(p, s2); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want ErrExist", err)
	}
	if back, err := ReadChunkSecretFile(p); err != nil || !back.Equal(s) {
		t.Fatalf("after a refused write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	// A loose mode is refused.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadChunkSecretFile(p); !errors.Is(err, ErrInsecureKeyFile) {
		t.Fatalf("0644: %v, want ErrInsecureKeyFile", err)
	}
	// Damaged contents.
	for _, body := range []string{"", "# only\n", "zz\n", strings.Repeat("ab", 31) + "\n", strings.Repeat("ab", 32) + "\n" + strings.Repeat("cd", 32) + "\n"} {
		q := writeFile(t, "secret", body, 0o600)
		if _, err := ReadChunkSecretFile(q); err == nil {
			t.Errorf("%q: no error", body)
		}
	}
}
