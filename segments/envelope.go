package segments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Small records (timelines, and later restore points and snapshot manifests)
// are JSON in a checksummed envelope:
//
//	{"format":"walship.timeline","version":1,"body":{...},"sha256":"<hex of body bytes>"}
//
// The SHA-256 covers the body's bytes exactly as stored, so a reader checks
// them before it parses them.
type envelope struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Body    json.RawMessage `json:"body"`
	SHA256  string          `json:"sha256"`
}

func sealRecord(format string, version int, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	sum := sha256.Sum256(b)
	out, err := json.Marshal(envelope{Format: format, Version: version, Body: b, SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	return append(out, '\n'), nil
}

// openRecord checks a record's envelope and returns its version and body.
func openRecord(format string, b []byte) (int, []byte, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return 0, nil, fmt.Errorf("%w: %s record: %v", ErrCorrupt, format, err)
	}
	if env.Format != format {
		return 0, nil, fmt.Errorf("%w: record format %q, want %q", ErrCorrupt, env.Format, format)
	}
	sum := sha256.Sum256(env.Body)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return 0, nil, fmt.Errorf("%w: %s record: body SHA-256 does not match", ErrCorrupt, format)
	}
	return env.Version, env.Body, nil
}
