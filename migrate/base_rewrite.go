package migrate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// baseWriter rewrites bases into the target form under one chunk namer
// (nil: plain target).
type baseWriter struct {
	m       *migrator
	namer   *crypt.ChunkNamer
	opens   bool // an identity given opens the target's objects (or it is plain)
	mu      sync.Mutex
	written map[segments.Digest]bool // chunks stored and checked by this run
}

// rewriteBase stores b in the target form under b.next: every chunk read
// from the source (the file's SHA-256 checked), stored in the target form
// and read back; then the manifest, last, read back; only then the old
// manifest is deleted. Old chunks are left to cleanup.
func (w *baseWriter) rewriteBase(ctx context.Context, b *base) error {
	m := w.m
	lctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	src, err := snapshot.LoadWith(lctx, m.st, b.key, m.o.Identities)
	cancel()
	if err != nil {
		return err
	}
	co := segments.ChunkOptions{Identities: m.o.Identities}
	if enc := src.Encryption; enc != nil {
		nctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
		namer, err := snapshot.Namer(nctx, m.st, enc.SecretID, m.o.Identities)
		cancel()
		switch {
		case err == nil:
			co.Namers = []*crypt.ChunkNamer{namer}
		case !errors.Is(err, snapshot.ErrNoKeyRecord): // without it each file's SHA-256 still checks the chunks
			return err
		}
	}
	nm := src
	nm.ID, nm.Encryption = b.next.ID, nil
	nm.Files = slices.Clone(src.Files)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.o.Parallel)
	for i := range nm.Files {
		f := &nm.Files[i]
		if f.Type != segments.TypeFile {
			continue
		}
		g.Go(func() error { return w.rewriteFile(gctx, f, co) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := w.writeManifest(ctx, nm); err != nil {
		return err
	}
	return m.deleteObject(ctx, b.key, &m.res.Bases)
}

// rewriteFile reads a file's chunks from the source in order, checks the
// file's size and SHA-256, and stores each chunk in the target form.
func (w *baseWriter) rewriteFile(ctx context.Context, f *segments.SnapshotFile, co segments.ChunkOptions) error {
	sum := sha256.New()
	var n int64
	chunks := make([]segments.Digest, len(f.Chunks))
	for j, d := range f.Chunks {
		raw, info, err := w.m.readChunk(ctx, d, co)
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		sum.Write(raw)
		n += int64(len(raw))
		if chunks[j], err = w.storeChunk(ctx, raw, info.Codec); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	if n != f.Size || !bytes.Equal(sum.Sum(nil), f.SHA256[:]) {
		return fmt.Errorf("file %s: %w: its chunks give %d bytes hashing to %x, the manifest says %d bytes, %s", f.Path, segments.ErrCorrupt, n, sum.Sum(nil), f.Size, f.SHA256)
	}
	f.Chunks = chunks
	return nil
}

func (m *migrator) readChunk(ctx context.Context, d segments.Digest, co segments.ChunkOptions) ([]byte, segments.ChunkInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	key := segments.ChunkKey(d)
	rc, err := m.st.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, segments.ChunkInfo{}, fmt.Errorf("read chunk %s: %w", key, err)
	}
	defer rc.Close()
	info, raw, err := segments.ReadChunkWith(bufio.NewReaderSize(rc, 256<<10), d, co)
	if err != nil {
		return nil, info, fmt.Errorf("read chunk %s: %w", key, err)
	}
	return raw, info, nil
}

// storeChunk stores raw in the target form (create-only; one already there
// is checked like a new one) and reads it back: header in the target form
// and stored SHA-256, and, when it opens, the very bytes of raw.
func (w *baseWriter) storeChunk(ctx context.Context, raw []byte, codec segments.Codec) (segments.Digest, error) {
	m := w.m
	d := segments.DigestOf(raw)
	if w.namer != nil {
		d = w.namer.Name(raw)
	}
	w.mu.Lock()
	done := w.written[d]
	w.mu.Unlock()
	if done {
		return d, nil
	}
	key := segments.ChunkKey(d)
	obj, err := segments.EncodeChunkFor(nil, raw, codec, m.o.Recipients)
	if err != nil {
		return d, fmt.Errorf("encode chunk %s: %w", key, err)
	}
	pctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	err = m.st.Put(pctx, key, bytes.NewReader(obj), int64(len(obj)))
	cancel()
	stored := err == nil
	if err != nil && !backends.IsExists(err) {
		return d, fmt.Errorf("store chunk %s: %w", key, err)
	}
	if err := w.checkChunk(ctx, d, raw); err != nil {
		return d, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.written[d] {
		w.written[d] = true
		if stored {
			m.res.Chunks.Written++
		}
	}
	return d, nil
}

func (w *baseWriter) checkChunk(ctx context.Context, d segments.Digest, raw []byte) error {
	m := w.m
	key := segments.ChunkKey(d)
	b, err := m.getChunk(ctx, key)
	if err != nil {
		return err
	}
	info, err := segments.CheckChunk(bytes.NewReader(b), d)
	if err != nil {
		return fmt.Errorf("check chunk %s: %w: %w", key, ErrMismatch, err)
	}
	if !m.tgt.chunk(info) {
		return fmt.Errorf("check chunk %s: %w: stored as version %d sealed to %v, want the target form %v", key, ErrMismatch, info.Version, info.Recipients, m.tgt.fps)
	}
	if !w.opens {
		return nil
	}
	co := segments.ChunkOptions{Identities: m.o.Identities}
	if w.namer != nil {
		co.Namers = []*crypt.ChunkNamer{w.namer}
	}
	_, got, err := segments.ReadChunkWith(bytes.NewReader(b), d, co)
	if err != nil || !bytes.Equal(got, raw) {
		return fmt.Errorf("check chunk %s: %w: it does not open to the source's bytes (%v)", key, ErrMismatch, err)
	}
	return nil
}

func (m *migrator) getChunk(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	rc, err := m.st.Get(ctx, key, 0, segments.MaxChunkObjectSize+1)
	if err != nil {
		return nil, fmt.Errorf("check chunk %s: %w", key, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, fmt.Errorf("check chunk %s: %w", key, err)
	}
	return buf.Bytes(), nil
}

// writeManifest stores nm (create-only) and reads it back: in the target
// form, its clear fields and chunk list nm's, every chunk present; opened
// (plain, or an identity for the target), its files nm's exactly. A stored
// manifest that fails the check is deleted again (planning would pick it).
func (w *baseWriter) writeManifest(ctx context.Context, nm snapshot.Manifest) error {
	m := w.m
	var secret crypt.SecretID
	if w.namer != nil {
		secret = w.namer.SecretID()
	}
	b, err := segments.EncodeSnapshotFor(nm, secret, m.o.Recipients)
	if err != nil {
		return err
	}
	key := nm.Key()
	pctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	err = m.st.Put(pctx, key, bytes.NewReader(b), int64(len(b)))
	cancel()
	if err != nil {
		return fmt.Errorf("store manifest %s: %w", key, err)
	}
	if err := w.checkManifest(ctx, key, nm); err != nil {
		if derr := m.deleteObject(context.WithoutCancel(ctx), key, nil); derr != nil {
			err = errors.Join(err, derr)
		}
		return err
	}
	return nil
}

func (w *baseWriter) checkManifest(ctx context.Context, key string, nm snapshot.Manifest) error {
	m := w.m
	var ids []*crypt.Identity
	if w.opens {
		ids = m.o.Identities
	}
	lctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	got, err := snapshot.LoadWith(lctx, m.st, key, ids)
	cancel()
	if err != nil {
		return fmt.Errorf("check manifest %s: %w: %w", key, ErrMismatch, err)
	}
	switch {
	case !m.tgt.manifest(got):
		return fmt.Errorf("check manifest %s: %w: not in the target form", key, ErrMismatch)
	case got.Timeline != nm.Timeline || got.Index != nm.Index || !got.Time.Equal(nm.Time) || got.TotalSize != nm.TotalSize ||
		got.ChunkSize != nm.ChunkSize || !slices.Equal(got.ChunkRefs(), nm.ChunkRefs()):
		return fmt.Errorf("check manifest %s: %w: its clear fields or chunk list differ from those written", key, ErrMismatch)
	case got.Opened() && !slices.EqualFunc(got.Files, nm.Files, sameFile):
		return fmt.Errorf("check manifest %s: %w: its files differ from the source's", key, ErrMismatch)
	}
	for _, d := range got.ChunkRefs() {
		sctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
		_, err := m.st.Stat(sctx, segments.ChunkKey(d))
		cancel()
		if err != nil {
			return fmt.Errorf("check manifest %s: chunk %s: %w", key, segments.ChunkKey(d), err)
		}
	}
	return nil
}

func sameFile(a, b segments.SnapshotFile) bool {
	return sameContent(a, b) && slices.Equal(a.Chunks, b.Chunks)
}

// sameContent: the same file whatever its chunks are named.
func sameContent(a, b segments.SnapshotFile) bool {
	return a.Path == b.Path && a.Type == b.Type && a.Mode == b.Mode && a.Size == b.Size && a.Target == b.Target && a.SHA256 == b.SHA256
}

// deleteObject deletes key, counting it in k (nil: not counted).
func (m *migrator) deleteObject(ctx context.Context, key string, k *Kind) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	if err := m.st.Delete(ctx, key); err != nil && !backends.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if k != nil {
		m.mu.Lock()
		k.Deleted++
		m.mu.Unlock()
	}
	return nil
}
