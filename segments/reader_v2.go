package segments

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/walship/walship/crypt"
)

// ReadOptions tune NewReaderWith and CheckStoredWith.
type ReadOptions struct {
	// Identities open encrypted segments (version 2 with recipients).
	// Without one for a recipient a segment's header records, reading it
	// fails with an error matching crypt.ErrNoIdentity that names the
	// recorded fingerprints. Plain segments need none.
	Identities []*crypt.Identity
	// Checked says the caller has checked these very bytes whole with
	// CheckStored (or CheckStoredWith) already, payload SHA-256 included,
	// and reads them back from a file it wrote and no one else changes (a
	// restore's fetched copy): the reader then does not hash the payload
	// a second time. Every other check still runs: the header CRC, the
	// index of every frame, every entry's CRC32C, the raw length and the
	// end of the payload; an encrypted payload is still authenticated.
	Checked bool
}

// ReadHeader reads exactly one segment header of any version from r and
// returns it with its bytes; r is left at the stored payload. Nothing is
// decrypted: it needs no identity.
func ReadHeader(r io.Reader) (Header, []byte, error) {
	var raw bytes.Buffer
	tee := io.TeeReader(r, &raw)
	v, prefix, err := readPrefix(tee)
	if err != nil {
		return Header{}, nil, err
	}
	h, err := headerReaders[v](prefix, tee)
	if err != nil {
		return h, nil, err
	}
	return h, raw.Bytes(), nil
}

// CheckStoredWith is CheckStored that, for an encrypted segment, also
// makes sure one of o.Identities is for a recipient its header records
// (Header.CheckIdentities), so a restore learns that it cannot open a copy
// before decoding it and may try another store's. The payload is checked
// as stored (its SHA-256), not decrypted.
func CheckStoredWith(r io.Reader, o ReadOptions) (Header, error) {
	h, err := CheckStored(r)
	if err != nil {
		return h, err
	}
	return h, h.CheckIdentities(o.Identities)
}

// openV2 opens a version 2 segment: its payload, hashed as stored, is
// opened with o.Identities when encrypted and then read as version 1's
// frames.
func openV2(prefix []byte, r io.Reader, o ReadOptions) (Reader, error) {
	h, err := readHeaderV2(prefix, r)
	if err != nil {
		return nil, err
	}
	stored, sha := payloadOf(r, h, o)
	if !h.Encrypted() {
		rd, err := newFramesReader(h, r, stored, sha)
		if err != nil {
			return nil, err
		}
		return rd, nil
	}
	// Only identities the header records may open it, as CheckStoredWith
	// says: a header whose fingerprints do not name the key that opens the
	// payload is refused by both, not opened by one.
	if err := h.CheckIdentities(o.Identities); err != nil {
		return nil, err
	}
	plain, err := crypt.OpenRecorded(stored, o.Identities, h.Recipients)
	if err != nil {
		return nil, envelopeError(h, err)
	}
	env := &envelopeReader{plain: plain, cipher: stored}
	rd, err := newFramesReader(h, r, env, sha)
	if err != nil {
		if env.err != nil {
			err = envelopeError(h, env.err)
		}
		return nil, err
	}
	return &readerV2{readerV1: rd, env: env}, nil
}

// envelopeError words a failure to open a segment's envelope: no identity
// for it (crypt.ErrNoIdentity, naming the recorded fingerprints), or
// damage (crypt.ErrAuth, and ErrCorrupt like any other damage).
func envelopeError(h Header, err error) error {
	if errors.Is(err, crypt.ErrNoIdentity) {
		return fmt.Errorf("segment %d..%d: %w", h.First, h.Last, err)
	}
	if errors.Is(err, crypt.ErrCorrupt) {
		return fmt.Errorf("%w: segment %d..%d: %w", ErrCorrupt, h.First, h.Last, err)
	}
	return fmt.Errorf("segment %d..%d: %w", h.First, h.Last, err)
}

// readerV2 is version 1's frame reader over an opened envelope. An error
// that the envelope caused (damage: crypt.ErrAuth) is returned as such, not
// only as the frame reader's ErrCorrupt.
type readerV2 struct {
	*readerV1
	env *envelopeReader
}

func (r *readerV2) Next() (Entry, error) {
	e, err := r.readerV1.Next()
	if err != nil && !errors.Is(err, io.EOF) && r.env.err != nil {
		return e, envelopeError(r.hdr, r.env.err)
	}
	return e, err
}

// envelopeReader yields the plaintext of an envelope and, when it ends,
// reads what is left of the ciphertext, so that all of it is hashed (the
// header's SHA-256 is of the stored bytes) and the frame reader's check of
// the payload's end sees the end of both. It remembers the first error.
type envelopeReader struct {
	plain, cipher io.Reader
	err           error
}

func (e *envelopeReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.plain.Read(p)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if _, derr := io.Copy(io.Discard, e.cipher); derr != nil {
			e.err = fmt.Errorf("read segment payload: %w", derr)
			return n, e.err
		}
		return n, io.EOF
	default:
		e.err = err
		return n, err
	}
}
