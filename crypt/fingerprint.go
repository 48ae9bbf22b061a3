package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// Fingerprint names a recipient without being one: the first 8 bytes of the
// SHA-256 of the recipient's canonical text (the lowercase "age1..." key).
// It is stable (the same key always has the same fingerprint), short enough
// for an error message and a binary header (8 bytes), and reveals nothing a
// public key would not.
//
// A passphrase has no public form, and a fingerprint derived from it would
// let anyone who reads the store test guesses offline; every passphrase has
// the one fingerprint PassphraseFingerprint, shown as "passphrase".
type Fingerprint [8]byte

// PassphraseFingerprint stands for any passphrase (age scrypt) recipient.
var PassphraseFingerprint = fingerprintOf("walship passphrase recipient")

func fingerprintOf(text string) Fingerprint {
	sum := sha256.Sum256([]byte(text))
	var fp Fingerprint
	copy(fp[:], sum[:8])
	return fp
}

// String returns 16 lowercase hex digits, or "passphrase".
func (fp Fingerprint) String() string {
	if fp == PassphraseFingerprint {
		return "passphrase"
	}
	return hex.EncodeToString(fp[:])
}

// MarshalText implements encoding.TextMarshaler (the String form).
func (fp Fingerprint) MarshalText() ([]byte, error) { return []byte(fp.String()), nil }

// UnmarshalText accepts the String form.
func (fp *Fingerprint) UnmarshalText(b []byte) error {
	p, err := ParseFingerprint(string(b))
	if err != nil {
		return err
	}
	*fp = p
	return nil
}

// ParseFingerprint parses the String form: 16 lowercase hex digits or
// "passphrase".
func ParseFingerprint(s string) (Fingerprint, error) {
	if s == "passphrase" {
		return PassphraseFingerprint, nil
	}
	var fp Fingerprint
	if len(s) != 2*len(fp) {
		return fp, fmt.Errorf("parse fingerprint %q: want 16 hex digits", s)
	}
	if _, err := hex.Decode(fp[:], []byte(s)); err != nil || hex.EncodeToString(fp[:]) != s {
		return Fingerprint{}, fmt.Errorf("parse fingerprint %q: want 16 lowercase hex digits", s)
	}
	return fp, nil
}

// Fingerprints returns the fingerprints of rs, sorted and without repeats:
// what a clear header records beside a ciphertext sealed to rs.
func Fingerprints(rs []*Recipient) []Fingerprint {
	fps := make([]Fingerprint, 0, len(rs))
	for _, r := range rs {
		if r != nil {
			fps = append(fps, r.fp)
		}
	}
	return sortFingerprints(fps)
}

func sortFingerprints(fps []Fingerprint) []Fingerprint {
	slices.SortFunc(fps, func(a, b Fingerprint) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(fps)
}

// IdentityFingerprints returns the fingerprints of the recipients that ids
// open, sorted and without repeats.
func IdentityFingerprints(ids []*Identity) []Fingerprint {
	var fps []Fingerprint
	for _, id := range ids {
		if id != nil {
			fps = append(fps, id.fp)
		}
	}
	return sortFingerprints(fps)
}
