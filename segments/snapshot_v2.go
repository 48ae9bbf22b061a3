package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/walship/walship/crypt"
)

// An encrypted snapshot manifest (record version 2, record_v2.go) keeps in
// the clear what planning, list, verify without a key and prune need, and
// nothing of the database's files:
//
//	"clear":{"id":"5f0c2a9e13b7d4c8", "timeline":1, "index":4711,
//	         "time":"2026-01-02T03:04:05.123Z",
//	         "chunk_size":4194304, "total_size":123456,
//	         "secret_id":"<16 hex>",          the chunk secret that named its chunks
//	         "chunks":["<hex>",...]}          the chunk names it refers to, sorted, unique
//
// The chunk names are keyed names (crypt.ChunkNamer), which say nothing to
// whoever does not hold the secret. Paths, modes, sizes per file, symlink
// targets, the source's detail and the files' SHA-256 are sealed: the
// sealed part is the whole manifest as version 1 stores it. A reader with
// an identity gets the full manifest and refuses it (ErrCorrupt) unless
// its clear fields, and the set of its files' chunks, equal the clear part.

// SnapshotEncryption is how an encrypted manifest is stored; it is not
// part of the manifest's body.
type SnapshotEncryption struct {
	SecretID   crypt.SecretID      // the secret whose namer named the chunks
	Recipients []crypt.Fingerprint // the manifest is sealed to these
	Chunks     []Digest            // the clear chunk list: sorted, unique
	Opened     bool                // the sealed manifest was opened: Files are known
}

type snapshotClear struct {
	ID        string         `json:"id"`
	Timeline  uint32         `json:"timeline"`
	Index     uint64         `json:"index"`
	Time      time.Time      `json:"time"`
	ChunkSize int64          `json:"chunk_size"`
	TotalSize int64          `json:"total_size"`
	SecretID  crypt.SecretID `json:"secret_id"`
	Chunks    []Digest       `json:"chunks"`
}

func (m SnapshotManifest) clear(id crypt.SecretID) snapshotClear {
	return snapshotClear{ID: m.ID, Timeline: m.Timeline, Index: m.Index, Time: m.Time,
		ChunkSize: m.ChunkSize, TotalSize: m.TotalSize, SecretID: id, Chunks: fileChunks(m.Files)}
}

// fileChunks returns the chunks the files name, sorted and unique.
func fileChunks(files []SnapshotFile) []Digest {
	out := []Digest{}
	for _, f := range files {
		out = append(out, f.Chunks...)
	}
	slices.SortFunc(out, Digest.Compare)
	return slices.Compact(out)
}

// ChunkRefs returns the chunks the manifest refers to, sorted and unique:
// the files' chunks, or for an encrypted manifest not opened its clear
// list. Prune, copy and verify use it; they need no identity.
func (m SnapshotManifest) ChunkRefs() []Digest {
	if m.Encryption != nil && !m.Encryption.Opened {
		return slices.Clone(m.Encryption.Chunks)
	}
	return fileChunks(m.Files)
}

// Opened reports whether the manifest's files are known: a plain manifest,
// or an encrypted one opened with an identity.
func (m SnapshotManifest) Opened() bool { return m.Encryption == nil || m.Encryption.Opened }

// EncodeSnapshotFor returns the record bytes of m: version 1 without
// recipients, else version 2 sealed to rs, recording that the secret with
// id secret named its chunks.
func EncodeSnapshotFor(m SnapshotManifest, secret crypt.SecretID, rs []*crypt.Recipient) ([]byte, error) {
	if len(rs) == 0 {
		return EncodeSnapshot(m)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("encode snapshot %s: %w", m.ID, err)
	}
	if m.Files == nil {
		m.Files = []SnapshotFile{}
	}
	m.Encryption = nil
	return sealRecordV2(snapshotFormat, m.clear(secret), m, rs)
}

// DecodeSnapshotWith is DecodeSnapshot that opens an encrypted manifest
// with ids when they are given (a wrong identity fails with
// crypt.ErrNoIdentity naming the recipients) and says how it is stored.
// Without ids an encrypted manifest gives its clear fields, no Files, and
// Encryption with the clear chunk list (ChunkRefs).
func DecodeSnapshotWith(b []byte, ids []*crypt.Identity) (SnapshotManifest, RecordInfo, error) {
	v, body, err := openRecord(snapshotFormat, b)
	if err != nil {
		return SnapshotManifest{}, RecordInfo{}, err
	}
	if v == RecordVersion2 {
		return decodeSnapshotV2(body, ids)
	}
	info := RecordInfo{Version: v, Opened: true}
	dec, ok := snapshotReaders[v]
	if !ok {
		return SnapshotManifest{}, info, fmt.Errorf("%w: snapshot manifest version %d; upgrade walship", ErrUnknownVersion, v)
	}
	m, err := dec(body)
	return m, info, err
}

func decodeSnapshotV2(body []byte, ids []*crypt.Identity) (SnapshotManifest, RecordInfo, error) {
	o, err := openRecordV2(snapshotFormat, body, ids)
	info := RecordInfo{Version: RecordVersion2, Recipients: o.Recipients, Opened: o.Full != nil}
	if err != nil {
		return SnapshotManifest{}, info, err
	}
	var c snapshotClear
	dec := json.NewDecoder(bytes.NewReader(o.Clear))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return SnapshotManifest{}, info, fmt.Errorf("%w: snapshot manifest: clear part: %v", ErrCorrupt, err)
	}
	if err := checkSnapshotClear(c); err != nil {
		return SnapshotManifest{}, info, fmt.Errorf("%w: snapshot manifest %s: clear part: %v", ErrCorrupt, c.ID, err)
	}
	enc := &SnapshotEncryption{SecretID: c.SecretID, Recipients: o.Recipients, Chunks: c.Chunks, Opened: o.Full != nil}
	if o.Full == nil {
		return SnapshotManifest{ID: c.ID, Timeline: c.Timeline, Index: c.Index, Time: c.Time,
			ChunkSize: c.ChunkSize, TotalSize: c.TotalSize, Encryption: enc}, info, nil
	}
	m, err := decodeSnapshotV1(o.Full)
	if err != nil {
		return SnapshotManifest{}, info, err
	}
	if !sameClear(o.Clear, m.clear(c.SecretID)) {
		return SnapshotManifest{}, info, fmt.Errorf("%w: snapshot manifest %s: clear part differs from the sealed manifest", ErrCorrupt, m.ID)
	}
	m.Encryption = enc
	return m, info, nil
}

// checkSnapshotClear checks what a reader without a key acts on.
func checkSnapshotClear(c snapshotClear) error {
	m := SnapshotManifest{ID: c.ID, Timeline: c.Timeline, Time: c.Time, ChunkSize: c.ChunkSize, TotalSize: c.TotalSize}
	if err := m.validHead(); err != nil {
		return err
	}
	if c.Chunks == nil {
		return fmt.Errorf("no chunk list")
	}
	for i := 1; i < len(c.Chunks); i++ {
		if bytes.Compare(c.Chunks[i-1][:], c.Chunks[i][:]) >= 0 {
			return fmt.Errorf("chunk list not sorted and unique at %d", i)
		}
	}
	return nil
}
