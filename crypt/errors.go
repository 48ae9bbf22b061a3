package crypt

import (
	"errors"
	"strings"
)

// Sentinel errors of package crypt. Callers classify with errors.Is.
var (
	// ErrCorrupt: bytes that walship wrote do not check out (a record
	// header's CRC, a length, an unknown version). Every ErrAuth is also an
	// ErrCorrupt, so a caller that asks "is this object damaged?" asks once.
	ErrCorrupt = errors.New("damaged encrypted object")

	// ErrAuth: an age ciphertext failed authentication: a flipped byte, a
	// truncated stream, a header whose MAC does not match. The plaintext read
	// so far must be thrown away.
	ErrAuth = wrapSentinel(ErrCorrupt, "ciphertext fails authentication")

	// ErrNoIdentity: none of the identities given opens the object. The error
	// is a *NoIdentityError naming the fingerprints the object was encrypted
	// to, when they are known.
	ErrNoIdentity = errors.New("no matching identity")

	// ErrInsecureKeyFile: a file holding a secret (identity, passphrase,
	// chunk-name secret) is readable or writable by group or others.
	ErrInsecureKeyFile = errors.New("key file readable by others")
)

type sentinel struct {
	msg    string
	parent error
}

func (s *sentinel) Error() string { return s.parent.Error() + ": " + s.msg }
func (s *sentinel) Unwrap() error { return s.parent }

func wrapSentinel(parent error, msg string) error { return &sentinel{msg: msg, parent: parent} }

// NoIdentityError is returned when no identity given opens an object.
// errors.Is(err, ErrNoIdentity) holds for it.
type NoIdentityError struct {
	// Recorded are the fingerprints the object was encrypted to, as recorded
	// in walship's clear header; nil when the caller did not know them.
	Recorded []Fingerprint
	// Given are the fingerprints the identities given open.
	Given []Fingerprint
}

func (e *NoIdentityError) Error() string {
	var b strings.Builder
	b.WriteString("no identity given opens this object")
	if len(e.Recorded) > 0 {
		b.WriteString(": it was encrypted to ")
		b.WriteString(joinFingerprints(e.Recorded))
	}
	if len(e.Given) == 0 {
		b.WriteString("; no identity was given")
	} else {
		b.WriteString("; the identities given open ")
		b.WriteString(joinFingerprints(e.Given))
	}
	if len(e.Recorded) > 0 {
		b.WriteString("; give an identity for one of the recorded fingerprints")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNoIdentity) hold.
func (e *NoIdentityError) Is(target error) bool { return target == ErrNoIdentity }

func joinFingerprints(fps []Fingerprint) string {
	s := make([]string, len(fps))
	for i, fp := range fps {
		s[i] = "fp " + fp.String()
	}
	return strings.Join(s, ", ")
}
