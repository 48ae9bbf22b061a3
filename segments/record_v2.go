package segments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/walship/walship/crypt"
)

// Records, version 2: encrypted records. The envelope is version 1's
// (envelope.go) with "version":2; its body is
//
//	{"clear":{...},                        the fields a reader without an identity acts on
//	 "recipients":["0123456789abcdef",...], fingerprints the record is sealed to (1..16, sorted)
//	 "sealed":"<base64, standard, padded>"} age ciphertext of the whole body as version 1 stores it
//
// The envelope's SHA-256 covers these body bytes, ciphertext included, so
// damage is found without a key (verify, prune). What "clear" holds is
// chosen per kind (the fields planning, listing and prune need, nothing of
// the database's content) and drawn beside each kind's code. A reader with
// an identity opens "sealed", decodes it with the kind's version 1 decoder
// and refuses the record (ErrCorrupt) unless the clear fields it decodes
// equal "clear": what a reader without the key acts on never differs from
// what the key holder sees. An old walship reads the envelope, finds
// version 2 and says to upgrade.

// RecordVersion2 is the version of encrypted records of every kind.
const RecordVersion2 = 2

// MaxRecordSize bounds a record a reader accepts, so a hostile object
// cannot make it allocate without limit.
const MaxRecordSize = 64 << 20

type sealedBody struct {
	Clear      json.RawMessage     `json:"clear"`
	Recipients []crypt.Fingerprint `json:"recipients"`
	Sealed     []byte              `json:"sealed"` // encoding/json: standard padded base64
}

// sealRecordV2 returns a version 2 record of format: clear in the clear,
// full (the whole body, as version 1 encodes it) sealed to rs.
func sealRecordV2(format string, clear, full any, rs []*crypt.Recipient) ([]byte, error) {
	fps := crypt.Fingerprints(rs)
	if len(fps) == 0 || len(fps) > MaxRecipients {
		return nil, fmt.Errorf("encode %s: %d recipients, want 1..%d", format, len(fps), MaxRecipients)
	}
	cb, err := json.Marshal(clear)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	fb, err := json.Marshal(full)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	var ct bytes.Buffer
	w, err := crypt.Seal(&ct, rs)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	if _, err := w.Write(fb); err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	return sealRecord(format, RecordVersion2, sealedBody{Clear: cb, Recipients: fps, Sealed: ct.Bytes()})
}

// openedRecord is a version 2 body taken apart: Clear always, Full only
// when an identity opened it.
type openedRecord struct {
	Clear      []byte
	Full       []byte // nil without a matching identity
	Recipients []crypt.Fingerprint
}

// openRecordV2 parses a version 2 body and, when ids holds one for its
// recipients, opens the sealed part. Without ids it returns the clear part
// only; with ids that do not match it fails with crypt.ErrNoIdentity
// naming the recipients. Damage wraps ErrCorrupt.
func openRecordV2(format string, body []byte, ids []*crypt.Identity) (openedRecord, error) {
	var sb sealedBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sb); err != nil {
		return openedRecord{}, fmt.Errorf("%w: %s record: %v", ErrCorrupt, format, err)
	}
	if dec.More() {
		return openedRecord{}, fmt.Errorf("%w: %s record: data after the body", ErrCorrupt, format)
	}
	if len(sb.Clear) == 0 || string(sb.Clear) == "null" || len(sb.Sealed) == 0 {
		return openedRecord{}, fmt.Errorf("%w: %s record: clear or sealed part missing", ErrCorrupt, format)
	}
	if n := len(sb.Recipients); n == 0 || n > MaxRecipients {
		return openedRecord{}, fmt.Errorf("%w: %s record: %d recipients, want 1..%d", ErrCorrupt, format, n, MaxRecipients)
	}
	out := openedRecord{Clear: sb.Clear, Recipients: sb.Recipients}
	if len(ids) == 0 {
		return out, nil
	}
	r, err := crypt.OpenRecorded(bytes.NewReader(sb.Sealed), ids, sb.Recipients)
	if err == nil {
		out.Full, err = io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	}
	switch {
	case err == nil && len(out.Full) > MaxRecordSize:
		return openedRecord{}, fmt.Errorf("%w: %s record: sealed body over %d bytes", ErrCorrupt, format, MaxRecordSize)
	case errors.Is(err, crypt.ErrCorrupt):
		return openedRecord{}, fmt.Errorf("%w: %s record: %w", ErrCorrupt, format, err)
	case err != nil:
		return openedRecord{}, fmt.Errorf("%s record: %w", format, err)
	}
	return out, nil
}

// sameClear reports whether the clear part a reader got equals the one
// computed from the opened body (both marshalled by encoding/json, so
// equal values give equal bytes).
func sameClear(stored []byte, fromFull any) bool {
	b, err := json.Marshal(fromFull)
	if err != nil {
		return false
	}
	x, okx := canonicalJSON(stored)
	y, oky := canonicalJSON(b)
	return okx && oky && bytes.Equal(x, y)
}

// canonicalJSON re-encodes a JSON value with its object keys sorted and
// its numbers as written (json.Number: no float rounding, so two indexes
// that differ in any digit stay different).
func canonicalJSON(b []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return nil, false
	}
	out, err := json.Marshal(v)
	return out, err == nil
}

// RecordInfo says how a record is stored: its version and, for an
// encrypted one, the recipients it is sealed to and whether this read
// opened it. A record decoded without opening holds only its clear fields.
type RecordInfo struct {
	Version    int
	Recipients []crypt.Fingerprint
	Opened     bool
}

// Encrypted reports whether the record is sealed to recipients.
func (i RecordInfo) Encrypted() bool { return len(i.Recipients) > 0 }
