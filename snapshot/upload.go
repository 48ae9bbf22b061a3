package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// Upload stores the snapshot of src: every chunk the store does not hold
// yet, then the manifest, last. It returns the manifest written and what it
// did. On error no manifest exists (chunks already stored stay, garbage for
// a later prune). A file that changes while it is read fails the upload
// with ErrModifiedDuringSnapshot.
//
// Chunks already stored are learnt from one listing of chunks/ up front; a
// Put that finds its chunk stored meanwhile counts as skipped. ctx is passed
// to every store call unchanged (it may carry a throttle priority).
func Upload(ctx context.Context, st backends.Store, src Source, o Options) (Manifest, Stats, error) {
	start := time.Now()
	o, err := o.withDefaults()
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	dir, err := resolveDir(src.Dir)
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot source %s: %w", src.Dir, err)
	}
	if o.Detail == "" {
		o.Detail = dir
	}
	t, err := walkTree(dir, false, o.Logger, nil)
	if err != nil {
		return Manifest{}, Stats{Elapsed: time.Since(start)}, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	m, stats, err := upload(ctx, st, dir, t, src.Index, o)
	stats.Elapsed = time.Since(start)
	return m, stats, err
}

// uploader carries one upload. known and the Stats fields other than the
// atomics belong to the goroutine that reads files.
type uploader struct {
	st    backends.Store
	o     Options
	tg    Target
	sh    shared
	namer *crypt.ChunkNamer // encrypted targets: names chunks by keyed HMAC
	root  *os.Root
	known *chunkIndex // chunks stored, or being stored; nil once the files are read
	stats Stats

	uploaded      atomic.Int64 // chunks stored by this upload
	uploadedBytes atomic.Int64
	raced         atomic.Int64 // chunks another writer stored first (ErrExists)

	raw, obj sync.Pool // *[]byte chunk buffers
}

// uploadOne stores the snapshot of dir into one target under the shared
// id and time.
func uploadOne(ctx context.Context, tg Target, dir string, t tree, index uint64, o Options, sh shared) (Manifest, Stats, error) {
	st := tg.Store
	u := &uploader{st: st, o: o, tg: tg, sh: sh}
	if tg.encrypted() {
		u.namer = crypt.NewChunkNamer(tg.ChunkSecret)
	}
	u.stats.Skipped = t.skipped
	if tg.encrypted() {
		if err := EnsureKeyRecord(ctx, st, tg.ChunkSecret, tg.Recipients); err != nil {
			return Manifest{}, u.stats, fmt.Errorf("snapshot %s: %w", dir, err)
		}
	}
	marker, err := beginUpload(ctx, st) // before chunks/ is listed: holds a prune's chunk deletion back
	if err != nil {
		return Manifest{}, u.stats, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	defer endUpload(ctx, st, marker, o.Logger) // after the manifest is stored (or the upload failed)
	m, err := u.run(ctx, dir, t, index)
	u.stats.ChunksUploaded = int(u.uploaded.Load())
	u.stats.ChunksSkipped += int(u.raced.Load())
	u.stats.BytesUploaded = u.uploadedBytes.Load()
	if err != nil {
		return Manifest{}, u.stats, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	o.Logger.Info("snapshot stored", "key", m.Key(), "store", st.String(), "encrypted", tg.encrypted(), "files", u.stats.Files, "bytes", u.stats.BytesRead,
		"chunks", u.stats.Chunks, "uploaded", u.stats.ChunksUploaded, "uploaded_bytes", u.stats.BytesUploaded)
	return m, u.stats, nil
}

func (u *uploader) run(ctx context.Context, dir string, t tree, index uint64) (Manifest, error) {
	cs := u.o.ChunkSize
	u.raw.New = func() any { b := make([]byte, cs); return &b }
	u.obj.New = func() any { b := make([]byte, 0, cs+segments.ChunkHeaderSizeV1); return &b }
	known, err := listChunks(ctx, u.st)
	if err != nil {
		return Manifest{}, err
	}
	u.known = known
	if u.root, err = os.OpenRoot(dir); err != nil {
		return Manifest{}, err
	}
	defer u.root.Close()

	m := Manifest{Timeline: u.o.Timeline, Index: index, ChunkSize: int64(cs), RootMode: t.rootMode,
		Source: segments.SnapshotSource{Method: u.o.method, Detail: u.o.Detail},
		Files:  make([]segments.SnapshotFile, 0, len(t.entries))}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.o.Parallel)
	var readErr error
	for _, e := range t.entries {
		f := segments.SnapshotFile{Path: e.rel, Type: e.typ, Mode: e.perm, Target: e.target}
		switch e.typ {
		case segments.TypeDir:
			u.stats.Dirs++
		case segments.TypeSymlink:
			u.stats.Symlinks++
		case segments.TypeFile:
			readErr = u.readFile(gctx, g, e, &f)
		}
		if readErr != nil {
			break
		}
		if e.typ == segments.TypeFile {
			u.stats.Files++
			m.TotalSize += f.Size
			if u.o.afterFile != nil {
				u.o.afterFile(u.stats.Files)
			}
		}
		m.Files = append(m.Files, f)
	}
	waitErr := g.Wait() // every upload goroutine is done before we return
	switch {
	case readErr != nil && (waitErr == nil || !isCanceled(readErr)):
		return Manifest{}, readErr
	case waitErr != nil:
		return Manifest{}, waitErr
	}
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}
	u.known = nil // checkChunks lists again, keeping the manifest's chunks only
	if err := u.checkChunks(ctx, m); err != nil {
		return Manifest{}, err
	}
	return u.writeManifest(ctx, m)
}

// ErrChunksGone: chunks this upload counted on were deleted before its
// manifest was written (a prune that began before the upload's marker
// existed). The upload fails without a manifest; the next one stores them.
var ErrChunksGone = errors.New("chunks deleted during the upload (a concurrent prune)")

// checkChunks lists chunks/ once more before the manifest is written and
// fails if any chunk the manifest names is no longer there. This closes the
// window in which a prune that planned before this upload's in-progress
// marker existed deletes a chunk the upload skipped as already stored.
func (u *uploader) checkChunks(ctx context.Context, m Manifest) error {
	missing, err := missingChunks(ctx, u.st, m.ChunkRefs())
	if err != nil {
		return err
	}
	for _, d := range missing {
		// Not listed (a listing may lag, or hide): ask for it.
		if _, err := u.st.Stat(ctx, segments.ChunkKey(d)); err != nil {
			if backends.IsNotFound(err) {
				return fmt.Errorf("%w: %s", ErrChunksGone, segments.ChunkKey(d))
			}
			return err
		}
	}
	return nil
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// readFile reads one file chunk by chunk, hashing it whole and handing each
// chunk the store lacks to an upload goroutine. The file is checked against
// its captured size and modification time before and after it is read.
func (u *uploader) readFile(ctx context.Context, g *errgroup.Group, e entry, f *segments.SnapshotFile) error {
	h, err := u.root.Open(filepath.FromSlash(e.rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return modified(e, "removed")
		}
		return err
	}
	defer h.Close()
	if err := checkUnchanged(h, e); err != nil {
		return err
	}
	sum := sha256.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		bp := u.raw.Get().(*[]byte)
		k, rerr := io.ReadFull(h, *bp)
		if k > 0 {
			data := (*bp)[:k]
			sum.Write(data)
			if n += int64(k); n > e.size {
				u.raw.Put(bp)
				return modified(e, fmt.Sprintf("grew past its captured size %d", e.size))
			}
			d := u.name(data)
			f.Chunks = append(f.Chunks, d)
			u.store(ctx, g, d, bp, k)
		} else {
			u.raw.Put(bp)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", e.rel, rerr)
		}
	}
	u.stats.BytesRead += n
	if err := checkUnchanged(h, e); err != nil {
		return err
	}
	if n != e.size {
		return modified(e, fmt.Sprintf("read %d bytes, captured size %d", n, e.size))
	}
	f.Size = n
	copy(f.SHA256[:], sum.Sum(nil))
	return nil
}

// store uploads a chunk unless it is known to be stored; the buffer goes
// back to the pool when done with.
func (u *uploader) store(ctx context.Context, g *errgroup.Group, d segments.Digest, bp *[]byte, k int) {
	u.stats.Chunks++
	if u.known.has(d) {
		u.stats.ChunksSkipped++
		u.raw.Put(bp)
		return
	}
	u.known.add(d)
	g.Go(func() error {
		defer u.raw.Put(bp)
		op := u.obj.Get().(*[]byte)
		defer u.obj.Put(op)
		obj, err := segments.EncodeChunkFor((*op)[:0], (*bp)[:k], u.o.codec, u.tg.Recipients)
		if err != nil {
			return err
		}
		*op = obj
		key := segments.ChunkKey(d)
		switch err := u.st.Put(ctx, key, bytes.NewReader(obj), int64(len(obj))); {
		case backends.IsExists(err):
			u.raced.Add(1) // same name, same content: someone stored it first
		case err != nil:
			return fmt.Errorf("store chunk %s: %w", key, err)
		default:
			u.uploaded.Add(1)
			u.uploadedBytes.Add(int64(len(obj)))
		}
		return nil
	})
}

// checkUnchanged compares an open file's size and modification time with
// what was captured.
func checkUnchanged(h *os.File, e entry) error {
	fi, err := h.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", e.rel, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return modified(e, "no longer a regular file")
	case fi.Size() != e.size:
		return modified(e, fmt.Sprintf("size %d, captured %d", fi.Size(), e.size))
	case !fi.ModTime().Equal(e.mtime):
		return modified(e, fmt.Sprintf("modification time %s, captured %s",
			fi.ModTime().UTC().Format(time.RFC3339Nano), e.mtime.UTC().Format(time.RFC3339Nano)))
	}
	return nil
}

func modified(e entry, why string) error {
	return fmt.Errorf("%w: %s: %s; the snapshot was discarded, retry it", ErrModifiedDuringSnapshot, e.rel, why)
}

// name is a chunk's key name: SHA-256 of its bytes, or for an encrypted
// target their keyed name.
func (u *uploader) name(data []byte) segments.Digest {
	if u.namer != nil {
		return u.namer.Name(data)
	}
	return segments.DigestOf(data)
}

// writeManifest stores the manifest under the capture's id and checks the
// stored size: from here on the snapshot exists.
func (u *uploader) writeManifest(ctx context.Context, m Manifest) (Manifest, error) {
	m.ID, m.Time = u.sh.id, u.sh.time
	var secret crypt.SecretID
	if u.tg.encrypted() {
		secret = u.tg.ChunkSecret.ID()
	}
	b, err := segments.EncodeSnapshotFor(m, secret, u.tg.Recipients)
	if err != nil {
		return Manifest{}, err
	}
	if u.tg.encrypted() {
		m.Encryption = &segments.SnapshotEncryption{SecretID: secret, Recipients: crypt.Fingerprints(u.tg.Recipients),
			Chunks: m.ChunkRefs(), Opened: true}
	}
	key := m.Key()
	if err := u.st.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return Manifest{}, fmt.Errorf("store manifest %s: %w", key, err)
	}
	oi, err := u.st.Stat(ctx, key)
	if err != nil {
		return Manifest{}, fmt.Errorf("check manifest %s: %w", key, err)
	}
	if oi.Size != int64(len(b)) {
		return Manifest{}, fmt.Errorf("check manifest %s: %w: stored %d bytes, wrote %d", key, ErrCorrupt, oi.Size, len(b))
	}
	u.stats.ManifestBytes = int64(len(b))
	return m, nil
}

// NewID returns a fresh random snapshot (or marker) id.
func NewID() (string, error) {
	var b [segments.SnapshotIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("snapshot id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
