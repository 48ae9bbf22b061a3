package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Snapshot manifest, record version 1: the list of a base snapshot's files
// and the chunks that hold their bytes. A base snapshot is a copy of the
// database's data directory that contains every WAL entry <= Index of its
// timeline, so a restore is the newest base at or before the target plus a
// replay of the entries after Index. The manifest is JSON in the checksummed
// record envelope (envelope.go), stored at SnapshotName.Key():
//
//	{"format":"walship.snapshot","version":1,"body":
//	  {"id":"5f0c2a9e13b7d4c8",                 16 random lowercase hex digits
//	   "timeline":1, "index":4711,              every entry <= index is in the files
//	   "time":"2026-01-02T03:04:05.123Z",       when the capture was taken
//	   "source":{"method":"freeze","detail":"..."},   command | freeze | api
//	   "chunk_size":4194304,                    every chunk but a file's last is this long
//	   "total_size":123456,                     sum of the files' sizes
//	   "root_mode":448,                         permission bits of the data dir itself
//	   "files":[                                parents before children
//	     {"path":"base","type":"dir","mode":493},
//	     {"path":"base/1","type":"file","mode":384,"size":5000000,
//	      "sha256":"<hex of the whole file>","chunks":["<hex>","<hex>"]},
//	     {"path":"current","type":"symlink","target":"base/1"}]},
//	 "sha256":"<hex of the body's bytes as stored>"}
//
// Rules a reader enforces (Validate), so a hostile manifest cannot make a
// restore write outside its directory:
//   - a path is slash-separated, relative, clean, valid UTF-8, without NUL,
//     "." or ".." segments, local by filepath.IsLocal, and listed once;
//   - a path's parent directory is listed before it as a "dir" (so no path
//     runs through a symlink or a file);
//   - a symlink target is relative, and its ".." segments come first and
//     climb no higher than the data dir; after them none follows (a ".."
//     after a name that is itself a symlink could climb out);
//   - mode holds permission bits only (0..0777); for symlinks it is ignored;
//   - a file has ceil(size/chunk_size) chunks and a SHA-256; dirs and symlinks
//     have neither; total_size is the sum of the sizes.
const snapshotFormat = "walship.snapshot"

// SnapshotVersion1 is the first snapshot manifest version.
const SnapshotVersion1 = 1

// SnapshotMethod says how a snapshot was captured.
type SnapshotMethod string

// Capture methods. Stored in manifests: never rename.
const (
	MethodCommand SnapshotMethod = "command" // a user command named a checkpoint directory
	MethodFreeze  SnapshotMethod = "freeze"  // a hard-link copy taken between freeze and thaw
	MethodAPI     SnapshotMethod = "api"     // a directory handed in by an embedding program
)

// SnapshotSource describes where a snapshot's files came from.
type SnapshotSource struct {
	Method SnapshotMethod `json:"method"`
	Detail string         `json:"detail,omitempty"` // free text for people: the command, the directory
}

// FileType is the kind of a snapshot entry.
type FileType string

// Entry types. Stored in manifests: never rename.
const (
	TypeFile    FileType = "file"
	TypeDir     FileType = "dir"
	TypeSymlink FileType = "symlink"
)

// SnapshotFile is one entry of a snapshot: a regular file, a directory or a
// symbolic link.
type SnapshotFile struct {
	Path   string   `json:"path"` // slash-separated, relative to the data dir
	Type   FileType `json:"type"`
	Mode   uint32   `json:"mode,omitempty"`   // permission bits (0..0777); 0 for symlinks
	Size   int64    `json:"size,omitempty"`   // files only
	SHA256 Digest   `json:"sha256,omitzero"`  // files only: of the whole content
	Chunks []Digest `json:"chunks,omitempty"` // files only: chunk digests in order
	Target string   `json:"target,omitempty"` // symlinks only
}

// SnapshotManifest lists a base snapshot. See the format above.
type SnapshotManifest struct {
	ID        string         `json:"id"`
	Timeline  uint32         `json:"timeline"`
	Index     uint64         `json:"index"`
	Time      time.Time      `json:"time"`
	Source    SnapshotSource `json:"source"`
	ChunkSize int64          `json:"chunk_size"`
	TotalSize int64          `json:"total_size"`
	RootMode  uint32         `json:"root_mode"`
	Files     []SnapshotFile `json:"files"`

	// Encryption is set for a manifest stored encrypted (record version
	// 2, snapshot_v2.go); not part of the body.
	Encryption *SnapshotEncryption `json:"-"`
}

// Name returns what the manifest's key says about it.
func (m SnapshotManifest) Name() SnapshotName {
	return SnapshotName{Timeline: m.Timeline, Index: m.Index, ID: m.ID}
}

// Key returns the manifest's object key.
func (m SnapshotManifest) Key() string { return m.Name().Key() }

// snapshotReaders maps each manifest version ever written to its decoder.
var snapshotReaders = map[int]func([]byte) (SnapshotManifest, error){
	SnapshotVersion1: decodeSnapshotV1,
}

// EncodeSnapshot returns the record bytes of m (version 1) after checking
// it with Validate.
func EncodeSnapshot(m SnapshotManifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("encode snapshot %s: %w", m.ID, err)
	}
	if m.Files == nil {
		m.Files = []SnapshotFile{}
	}
	return sealRecord(snapshotFormat, SnapshotVersion1, m)
}

// DecodeSnapshot checks and parses a manifest record of any known version,
// and validates it: a manifest that decodes is safe to restore. An
// encrypted manifest gives its clear fields only (see DecodeSnapshotWith).
func DecodeSnapshot(b []byte) (SnapshotManifest, error) {
	m, _, err := DecodeSnapshotWith(b, nil)
	return m, err
}

func decodeSnapshotV1(body []byte) (SnapshotManifest, error) {
	var m SnapshotManifest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return SnapshotManifest{}, fmt.Errorf("%w: snapshot manifest: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return SnapshotManifest{}, fmt.Errorf("%w: snapshot manifest: data after the body", ErrCorrupt)
	}
	if err := m.Validate(); err != nil {
		return SnapshotManifest{}, fmt.Errorf("%w: snapshot manifest %s: %v", ErrCorrupt, m.ID, err)
	}
	return m, nil
}
