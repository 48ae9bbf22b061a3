package crypt

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
)

// Chunk names of an encrypted store. A plain store names a chunk by the
// SHA-256 of its bytes, which would let anyone who lists the store test
// whether it holds a file they can guess. An encrypted store names it by
// HMAC-SHA256 under a per-store secret instead: the same bytes get the same
// name within the store (dedup keeps working), and the name says nothing to
// whoever does not hold the secret.
//
// From the 32-byte secret two keys are derived with HKDF-SHA256 (RFC 5869):
//
//	naming key = HKDF(secret, info "walship chunk names v1"), 32 bytes
//	secret id  = HKDF(secret, info "walship chunk secret id v1"), 8 bytes
//	chunk name = HMAC-SHA256(naming key, raw chunk bytes), 32 bytes
//
// The secret id names a secret in clear (the key record, a manifest that
// says which secret named its chunks) without revealing it.

// ChunkSecretSize is the size of a chunk-name secret.
const ChunkSecretSize = 32

// SecretID names a chunk-name secret without revealing it.
type SecretID [8]byte

func (id SecretID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler (16 lowercase hex digits).
func (id SecretID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (ParseSecretID).
func (id *SecretID) UnmarshalText(b []byte) error {
	p, err := ParseSecretID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseSecretID parses the String form: 16 lowercase hex digits.
func ParseSecretID(s string) (SecretID, error) {
	var id SecretID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("parse secret id %q: want 16 lowercase hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || hex.EncodeToString(id[:]) != s {
		return SecretID{}, fmt.Errorf("parse secret id %q: want 16 lowercase hex digits", s)
	}
	return id, nil
}

// ChunkSecret is a store's chunk-name secret. Its printed forms show only
// its id. Hold it by pointer.
type ChunkSecret struct {
	key [ChunkSecretSize]byte
	id  SecretID
}

// NewChunkSecret returns a new random secret.
func NewChunkSecret() (*ChunkSecret, error) {
	var k [ChunkSecretSize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("new chunk secret: %w", err)
	}
	return chunkSecretFrom(k), nil
}

func chunkSecretFrom(k [ChunkSecretSize]byte) *ChunkSecret {
	s := &ChunkSecret{key: k}
	copy(s.id[:], derive(k[:], "walship chunk secret id v1", len(s.id)))
	return s
}

func derive(secret []byte, info string, n int) []byte {
	b, err := hkdf.Key(sha256.New, secret, nil, info, n)
	if err != nil {
		panic("crypt: hkdf: " + err.Error()) // only for n > 255*32
	}
	return b
}

// ID returns the secret's id.
func (s ChunkSecret) ID() SecretID { return s.id }

// Equal reports whether s and o are the same secret (in constant time).
func (s *ChunkSecret) Equal(o *ChunkSecret) bool {
	return s != nil && o != nil && hmac.Equal(s.key[:], o.key[:])
}

func (s ChunkSecret) String() string { return "chunk secret id " + s.id.String() }

// Format prints String for every verb, so no verb reaches the secret.
func (s ChunkSecret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// GoString implements fmt.GoStringer (%#v) with the String form.
func (s ChunkSecret) GoString() string { return "crypt.ChunkSecret(" + s.String() + ")" }

// LogValue implements slog.LogValuer.
func (s ChunkSecret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler with the String form.
func (s ChunkSecret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ChunkNamer names chunks of an encrypted store. It is safe for concurrent
// use.
type ChunkNamer struct {
	key []byte // naming key, derived from the secret
	id  SecretID
}

// NewChunkNamer returns the namer for secret s.
func NewChunkNamer(s *ChunkSecret) *ChunkNamer {
	return &ChunkNamer{key: derive(s.key[:], "walship chunk names v1", sha256.Size), id: s.id}
}

// SecretID returns the id of the secret the namer uses.
func (n *ChunkNamer) SecretID() SecretID { return n.id }

// Name returns the name of a chunk holding b.
func (n *ChunkNamer) Name(b []byte) [sha256.Size]byte {
	h := n.New()
	h.Write(b)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// New returns a hash that names the bytes written to it (HMAC-SHA256 under
// the naming key), for chunks read as a stream.
func (n *ChunkNamer) New() hash.Hash { return hmac.New(sha256.New, n.key) }

func (n ChunkNamer) String() string { return "chunk namer for secret id " + n.id.String() }

// Format prints String for every verb, so no verb reaches the key.
func (n ChunkNamer) Format(f fmt.State, _ rune) { io.WriteString(f, n.String()) }

// GoString implements fmt.GoStringer (%#v) with the String form.
func (n ChunkNamer) GoString() string { return "crypt.ChunkNamer(" + n.String() + ")" }

// LogValue implements slog.LogValuer.
func (n ChunkNamer) LogValue() slog.Value { return slog.StringValue(n.String()) }
