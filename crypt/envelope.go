package crypt

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/age"
)

// The envelope is age's own format, unchanged: a text header with one
// stanza per recipient (the file key wrapped to it) and a MAC, a 16-byte
// nonce, then the payload in 64 KiB chunks, each sealed with
// ChaCha20-Poly1305 and the last one marked as last. A flipped byte fails a
// chunk's tag; a cut at any point fails too (the last chunk is missing), so a
// reader never takes a prefix for the whole.
//
// age's stanzas do not say which recipient they are for (X25519 recipients
// are anonymous by design). Walship records the recipients' fingerprints in
// its own clear header beside the ciphertext (SealWithFingerprints returns
// them, OpenRecorded takes them back), so a reader without a matching
// identity can say which key it needs.

// Seal returns a writer that encrypts what is written to it to rs and writes
// the ciphertext to w. Close must be called to write the last chunk; it does
// not close w. A passphrase recipient must be the only one.
func Seal(w io.Writer, rs []*Recipient) (io.WriteCloser, error) {
	wc, _, err := SealWithFingerprints(w, rs)
	return wc, err
}

// SealWithFingerprints is Seal that also returns Fingerprints(rs): what the
// caller records in its clear header.
func SealWithFingerprints(w io.Writer, rs []*Recipient) (io.WriteCloser, []Fingerprint, error) {
	if len(rs) == 0 {
		return nil, nil, errors.New("seal: no recipients")
	}
	ars := make([]age.Recipient, len(rs))
	for i, r := range rs {
		if r == nil || r.r == nil {
			return nil, nil, fmt.Errorf("seal: recipient %d is empty", i+1)
		}
		if r.IsPassphrase() && len(rs) > 1 {
			return nil, nil, errors.New("seal: a passphrase must be the only recipient")
		}
		ars[i] = r.r
	}
	wc, err := age.Encrypt(w, ars...)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: %w", err)
	}
	return &sealWriter{wc: wc}, Fingerprints(rs), nil
}

type sealWriter struct{ wc io.WriteCloser }

func (s *sealWriter) Write(p []byte) (int, error) {
	n, err := s.wc.Write(p)
	if err != nil {
		err = fmt.Errorf("seal: %w", err)
	}
	return n, err
}

func (s *sealWriter) Close() error {
	if err := s.wc.Close(); err != nil {
		return fmt.Errorf("seal: finish: %w", err)
	}
	return nil
}

// Open returns a reader of the plaintext sealed in r, opened with the first
// of ids that matches. It reads and checks the header before returning;
// payload chunks are checked as they are read, and a reader error wraps
// ErrAuth for a damaged or truncated ciphertext (never a short plaintext
// with io.EOF). No matching identity returns a *NoIdentityError.
func Open(r io.Reader, ids []*Identity) (io.Reader, error) {
	return OpenRecorded(r, ids, nil)
}

// OpenRecorded is Open for a ciphertext whose recipients' fingerprints were
// recorded in a clear header: a *NoIdentityError names them; and when an
// identity given is for one of them (X25519) yet does not open the
// ciphertext, the header is damaged and the error wraps ErrAuth.
func OpenRecorded(r io.Reader, ids []*Identity, recorded []Fingerprint) (io.Reader, error) {
	given := IdentityFingerprints(ids)
	noID := &NoIdentityError{Recorded: slices.Clone(recorded), Given: given}
	aids := make([]age.Identity, 0, len(ids))
	for _, id := range ids {
		if id != nil && id.id != nil {
			aids = append(aids, id.id)
		}
	}
	if len(aids) == 0 {
		return nil, fmt.Errorf("open: %w", noID)
	}
	src := &sourceReader{r: r}
	pr, err := age.Decrypt(src, aids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		switch {
		case src.err != nil:
			return nil, fmt.Errorf("open: read ciphertext: %w", src.err)
		case errors.As(err, &nomatch):
			if fp, ok := sharedKey(given, recorded); ok {
				return nil, fmt.Errorf("open: %w: the header is recorded for fp %s and an identity for it was given, but it does not open the object", ErrAuth, fp)
			}
			return nil, fmt.Errorf("open: %w", noID)
		default:
			return nil, fmt.Errorf("open: %w: %v", ErrAuth, err)
		}
	}
	return &openReader{r: pr, src: src}, nil
}

// sharedKey returns an X25519 fingerprint both in given and recorded. A
// passphrase is left out: a wrong one has the same fingerprint as the right.
func sharedKey(given, recorded []Fingerprint) (Fingerprint, bool) {
	for _, g := range given {
		if g != PassphraseFingerprint && slices.Contains(recorded, g) {
			return g, true
		}
	}
	return Fingerprint{}, false
}

// sourceReader remembers the ciphertext source's own error (not io.EOF), so
// an I/O failure is not reported as damage.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

type openReader struct {
	r   io.Reader
	src *sourceReader
	err error
}

func (o *openReader) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case o.src.err != nil:
		o.err = fmt.Errorf("open: read ciphertext: %w", o.src.err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		o.err = fmt.Errorf("open: %w: ciphertext ends early (%w)", ErrAuth, io.ErrUnexpectedEOF)
	default:
		o.err = fmt.Errorf("open: %w: %v", ErrAuth, err)
	}
	return n, o.err
}
