package snapshot

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// Manifest is a snapshot's manifest; the format lives in segments.
type Manifest = segments.SnapshotManifest

// Source is a consistent copy of the data directory and the WAL index it
// contains: every entry <= Index is in Dir, none after. Nothing may modify
// Dir while it is uploaded.
type Source struct {
	Dir   string
	Index uint64
}

// DefaultChunkSize is the chunk size Upload uses unless told otherwise.
const DefaultChunkSize = 4 << 20

// MinChunkSize is the smallest chunk size Options accept.
const MinChunkSize = 1 << 10

// Options tune a capture and its upload. Zero values take the defaults
// noted.
type Options struct {
	Timeline    uint32       // the WAL timeline Index belongs to; default 1
	ChunkSize   int          // MinChunkSize..segments.MaxChunkSize; default DefaultChunkSize
	Parallel    int          // concurrent chunk uploads; default 4
	Compression string       // "zstd" (default) or "none", as segments.ParseCodec reads it
	Detail      string       // what the manifest says about the source; default: the directory or command
	Logger      *slog.Logger // default: discard

	// Recipients encrypt the upload to the store given (chunks format v2
	// named under ChunkSecret, manifest record version 2, a key record);
	// none: plain. Targets instead uploads one capture to several stores,
	// each with its own encryption (the store argument must be nil).
	Recipients  []*crypt.Recipient
	ChunkSecret *crypt.ChunkSecret
	Targets     []Target

	// codec is Compression parsed; method is set by the capture that
	// calls upload.
	codec  segments.Codec
	method segments.SnapshotMethod
	// afterLink, set by tests, runs after a Freeze linked the data dir
	// into the staging dir (and thawed), before the upload reads a file.
	afterLink func(staging string)
	// afterFile, set by tests, runs after the upload read a file's last
	// chunk, with the number of files read so far.
	afterFile func(n int)
}

func (o Options) withDefaults() (Options, error) {
	if o.Timeline == 0 {
		o.Timeline = 1
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.ChunkSize < MinChunkSize || o.ChunkSize > segments.MaxChunkSize {
		return o, fmt.Errorf("chunk size %d outside %d..%d", o.ChunkSize, MinChunkSize, segments.MaxChunkSize)
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	codec, err := segments.ParseCodec(o.Compression)
	if err != nil {
		return o, err
	}
	o.codec = codec
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.method == "" {
		o.method = segments.MethodAPI
	}
	return o, nil
}

// Stats say what an upload did. On error they count what happened before it.
type Stats struct {
	Files          int   // regular files read
	Dirs           int   // directories listed
	Symlinks       int   // symlinks listed
	Skipped        int   // sockets, devices, fifos: not captured (logged)
	BytesRead      int64 // file bytes read
	Chunks         int   // chunk references in the manifest (ChunksUploaded + ChunksSkipped)
	ChunksUploaded int   // chunks this upload stored
	ChunksSkipped  int   // chunks the store held already (or this snapshot stored earlier)
	BytesUploaded  int64 // stored (compressed) bytes of the chunks this upload stored
	ManifestBytes  int64 // size of the manifest object
	Elapsed        time.Duration
}

// Sentinel errors; test with errors.Is.
var (
	// ErrModifiedDuringSnapshot: a file changed (size or modification
	// time) after it was captured. The snapshot was discarded, no manifest
	// written; the error names the file. Retry the snapshot.
	ErrModifiedDuringSnapshot = errors.New("file modified during snapshot")
	// ErrCommand: a capture, release, freeze or thaw command failed or
	// printed something unusable. The message holds the command, its exit
	// status and the tail of its stderr.
	ErrCommand = errors.New("snapshot command failed")
	// ErrRelease: the snapshot was stored, but the release command failed.
	// Upload's manifest and stats are valid; do not retry the snapshot.
	ErrRelease = errors.New("snapshot stored, but releasing the checkpoint failed")
	// ErrThaw: the thaw command failed: the database may still be frozen.
	ErrThaw = errors.New("thaw command failed: the database may still be frozen")
	// ErrDataDirNotEmpty: RestoreFiles found files at the data directory.
	ErrDataDirNotEmpty = errors.New("data directory exists and is not empty")
	// ErrUnsupported: the data directory holds something a snapshot cannot
	// hold (a symlink pointing outside it, a name that is not UTF-8).
	ErrUnsupported = errors.New("cannot snapshot")
	// ErrCorrupt: a stored object fails its checks (segments' sentinel).
	ErrCorrupt = segments.ErrCorrupt
)
