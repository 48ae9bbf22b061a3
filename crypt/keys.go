package crypt

import (
	"fmt"
	"io"
	"log/slog"

	"filippo.io/age"
)

// Recipient is a public key that objects are sealed to: an age X25519
// recipient ("age1...") or a passphrase (age scrypt). Its printed forms never
// hold a passphrase: an X25519 recipient prints as "age1qyqszqgp…k3fx (fp
// 1a2b3c4d5e6f7a8b)", a passphrase as "passphrase".
//
// Hold recipients by pointer (*Recipient), as this package returns them: a
// struct field of type Recipient is printed field by field when the struct
// holding it is printed with %v.
type Recipient struct {
	r    age.Recipient
	text string // canonical "age1..." text; "" for a passphrase
	fp   Fingerprint
}

// Fingerprint returns the recipient's fingerprint.
func (r Recipient) Fingerprint() Fingerprint { return r.fp }

// IsPassphrase reports whether r is a passphrase (age scrypt) recipient.
func (r Recipient) IsPassphrase() bool { return r.text == "" }

// Text returns the recipient's public key text ("age1..."), or "" for a
// passphrase.
func (r Recipient) Text() string { return r.text }

// String returns the shortened public key and its fingerprint.
func (r Recipient) String() string {
	if r.r == nil {
		return "recipient(none)"
	}
	if r.IsPassphrase() {
		return "passphrase"
	}
	return shorten(r.text) + " (fp " + r.fp.String() + ")"
}

// Format prints String for every verb, so no verb reaches the fields.
func (r Recipient) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }

// GoString implements fmt.GoStringer (%#v) with the String form.
func (r Recipient) GoString() string { return "crypt.Recipient(" + r.String() + ")" }

// LogValue implements slog.LogValuer.
func (r Recipient) LogValue() slog.Value { return slog.StringValue(r.String()) }

// MarshalText implements encoding.TextMarshaler (JSON, slog's JSON handler).
func (r Recipient) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func shorten(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:12] + "…" + s[len(s)-4:]
}

// Identity is a secret that opens objects: an age X25519 identity
// ("AGE-SECRET-KEY-1...") or a passphrase. It records where it came from
// (a file and line, an environment variable) so messages can point there.
// None of its printed forms (String, every fmt verb, %#v, slog, JSON)
// holds the secret: they show the fingerprint it opens and its source.
//
// Hold identities by pointer (*Identity), as this package returns them: a
// struct field of type Identity is printed field by field when the struct
// holding it is printed with %v; a pointer field prints as an address.
type Identity struct {
	id     age.Identity
	fp     Fingerprint // of the recipient it opens
	source string      // "file /etc/walship/identity line 2", "env WALSHIP_AGE_IDENTITY"
}

// Fingerprint returns the fingerprint of the recipient the identity opens.
func (i Identity) Fingerprint() Fingerprint { return i.fp }

// Source says where the identity was read from.
func (i Identity) Source() string { return i.source }

// Recipient returns the recipient that the identity opens: for an X25519
// identity the public key derived from it. A passphrase identity has no
// public form; ok is false.
func (i Identity) Recipient() (r *Recipient, ok bool) {
	x, isX := i.id.(*age.X25519Identity)
	if !isX {
		return nil, false
	}
	return newX25519Recipient(x.Recipient()), true
}

// String returns "identity for fp 1a2b3c4d5e6f7a8b (from SOURCE)".
func (i Identity) String() string {
	if i.id == nil {
		return "identity(none)"
	}
	s := "identity for fp " + i.fp.String()
	if i.source != "" {
		s += " (from " + i.source + ")"
	}
	return s
}

// Format prints String for every verb, so no verb reaches the secret.
func (i Identity) Format(f fmt.State, _ rune) { io.WriteString(f, i.String()) }

// GoString implements fmt.GoStringer (%#v) with the String form.
func (i Identity) GoString() string { return "crypt.Identity(" + i.String() + ")" }

// LogValue implements slog.LogValuer.
func (i Identity) LogValue() slog.Value { return slog.StringValue(i.String()) }

// MarshalText implements encoding.TextMarshaler (JSON, slog's JSON handler).
func (i Identity) MarshalText() ([]byte, error) { return []byte(i.String()), nil }

func newX25519Recipient(x *age.X25519Recipient) *Recipient {
	text := x.String()
	return &Recipient{r: x, text: text, fp: fingerprintOf(text)}
}

func newX25519Identity(x *age.X25519Identity, source string) *Identity {
	return &Identity{id: x, fp: fingerprintOf(x.Recipient().String()), source: source}
}

// GenerateIdentity returns a new random X25519 identity (for tests, and for
// a future key-generation command).
func GenerateIdentity() (*Identity, error) {
	x, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	return newX25519Identity(x, "generated"), nil
}

// SecretText returns the identity's "AGE-SECRET-KEY-1..." text, for writing
// a key file the user asked for. It is the one way to get the secret out;
// never log it. A passphrase identity returns "".
func (i Identity) SecretText() string {
	if x, ok := i.id.(*age.X25519Identity); ok {
		return x.String()
	}
	return ""
}
