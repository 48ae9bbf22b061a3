package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// base is a base snapshot's manifest as listed and read without an
// identity (an encrypted one's clear part).
type base struct {
	key  string
	size int64
	m    snapshot.Manifest
	next segments.SnapshotName // the key its rewrite is stored under (newBaseID)
	new  *base                 // finish: the rewrite, stored already by a killed run
}

// basePlan is what Run decided about the base snapshots.
type basePlan struct {
	rewrite []*base
	finish  []*base          // their rewrite is current: delete them
	chunks  map[string]int64 // chunks/ as listed: key -> size
	staying map[crypt.SecretID]bool
}

// newBaseID is the id of the rewrite of snapshot id for the target fps: a
// new id (a new, create-only manifest key), derived so that a rerun finds
// the rewrite a killed run stored and finishes it. Nothing else is
// needed to recognise it, with or without an identity.
func newBaseID(id string, fps []crypt.Fingerprint) string {
	h := sha256.New()
	fmt.Fprintf(h, "walship migrate base\x00%s\x00", id)
	for _, fp := range fps {
		h.Write(fp[:])
	}
	return hex.EncodeToString(h.Sum(nil))[:segments.SnapshotIDLen]
}

// manifestCurrent says whether m is stored as the target asks: plain, or
// sealed to exactly its recipients.
func (t target) manifest(m snapshot.Manifest) bool {
	if m.Encryption == nil {
		return t.fps == nil
	}
	return slices.Equal(m.Encryption.Recipients, t.fps)
}

func (t target) chunk(info segments.ChunkInfo) bool {
	if t.fps == nil {
		return !info.Encrypted()
	}
	return info.Version == segments.ChunkVersion2 && slices.Equal(info.Recipients, t.fps)
}

// planBases lists and reads every manifest, and the header of every chunk
// a manifest in the target form refers to, and decides which bases are
// rewritten. A base that does not read is a Problem, left as it is.
func (m *migrator) planBases(ctx context.Context, p *plan) error {
	bp := &basePlan{chunks: map[string]int64{}, staying: map[crypt.SecretID]bool{}}
	p.bases = bp
	keys, err := m.listManifests(ctx)
	if err != nil {
		return err
	}
	if err := m.list(ctx, segments.ChunksPrefix, func(oi backends.ObjectInfo) {
		if _, err := segments.ParseChunkKey(oi.Key); err == nil {
			bp.chunks[oi.Key] = oi.Size
		}
	}); err != nil {
		return err
	}
	m.res.Chunks.Objects = len(bp.chunks)
	all, err := m.loadBases(ctx, keys)
	if err != nil {
		return err
	}
	forms, err := m.chunkForms(ctx, all)
	if err != nil {
		return err
	}
	for _, ok := range forms {
		if ok {
			m.res.Chunks.Current++
		}
	}
	byKey := map[segments.SnapshotName]*base{}
	current := map[*base]bool{}
	for _, b := range all {
		byKey[b.m.Name()] = b
		b.next = segments.SnapshotName{Timeline: b.m.Timeline, Index: b.m.Index, ID: newBaseID(b.m.ID, m.tgt.fps)}
		current[b] = m.tgt.manifest(b.m) && !slices.ContainsFunc(b.m.ChunkRefs(), func(d segments.Digest) bool { return !forms[segments.ChunkKey(d)] })
	}
	rewritten := map[string]bool{}
	for _, b := range all {
		m.res.Bases.Objects++
		nb := byKey[b.next]
		switch {
		case current[b]:
			m.res.Bases.Current++
			if b.m.Encryption != nil {
				bp.staying[b.m.Encryption.SecretID] = true
			}
		case nb != nil && current[nb]:
			b.new = nb
			bp.finish = append(bp.finish, b)
		case nb != nil:
			m.baseLeft(b.key, fmt.Sprintf("its rewrite %s is stored but not in the target form or not whole; delete that one and run migrate again", nb.key))
		case b.m.Encryption != nil && m.tgt.fps == nil && !m.o.Decrypt:
			p.clear = append(p.clear, b.key)
		case b.m.Encryption != nil && checkOpens(b.m.Encryption.Recipients, m.o.Identities) != nil:
			p.lock(b.m.Encryption.Recipients, b.key)
		default:
			bp.rewrite = append(bp.rewrite, b)
			m.res.Bases.Rewrite++
			m.res.Bases.Bytes += b.size
			if b.m.Encryption != nil {
				m.res.Bases.Encrypted++
			}
			for _, d := range b.m.ChunkRefs() {
				if k := segments.ChunkKey(d); !rewritten[k] {
					rewritten[k] = true
					m.res.Chunks.Rewrite++
					m.res.Chunks.Bytes += bp.chunks[k]
				}
			}
		}
	}
	return nil
}

// checkOpens is nil when an identity of ids is one of fps.
func checkOpens(fps []crypt.Fingerprint, ids []*crypt.Identity) error {
	for _, fp := range crypt.IdentityFingerprints(ids) {
		if slices.Contains(fps, fp) {
			return nil
		}
	}
	return &crypt.NoIdentityError{Recorded: slices.Clone(fps), Given: crypt.IdentityFingerprints(ids)}
}

func (m *migrator) baseLeft(key, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res.Bases.Left++
	m.res.Problems = append(m.res.Problems, Problem{Key: key, Problem: "base left as it is: " + why})
}

// listManifests lists the manifest keys of snapshots/.
func (m *migrator) listManifests(ctx context.Context) ([]backends.ObjectInfo, error) {
	var keys []backends.ObjectInfo
	err := m.list(ctx, segments.SnapshotsPrefix, func(oi backends.ObjectInfo) {
		if _, err := segments.ParseSnapshotKey(oi.Key); err == nil {
			keys = append(keys, oi)
		}
	})
	return keys, err
}

// loadBases reads every manifest without identities, 8 at a time.
func (m *migrator) loadBases(ctx context.Context, keys []backends.ObjectInfo) ([]*base, error) {
	out := make([]*base, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, oi := range keys {
		g.Go(func() error {
			cctx, cancel := context.WithTimeout(gctx, m.o.CallTimeout)
			defer cancel()
			mf, err := snapshot.Load(cctx, m.st, oi.Key)
			switch {
			case backends.IsNotFound(err):
			case err != nil && gctx.Err() != nil:
				return err
			case err != nil:
				m.baseLeft(oi.Key, err.Error())
			default:
				out[i] = &base{key: oi.Key, size: oi.Size, m: mf}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(b *base) bool { return b == nil }), nil
}

// chunkForms reads the header of every chunk that a manifest in the target
// form refers to (8 at a time) and says which are in the target form too. A
// chunk missing or unreadable is not.
func (m *migrator) chunkForms(ctx context.Context, all []*base) (map[string]bool, error) {
	want := map[string]bool{}
	for _, b := range all {
		if m.tgt.manifest(b.m) {
			for _, d := range b.m.ChunkRefs() {
				want[segments.ChunkKey(d)] = true
			}
		}
	}
	var mu sync.Mutex
	forms := map[string]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for key := range want {
		g.Go(func() error {
			info, err := m.chunkHeader(gctx, key)
			if err != nil && gctx.Err() != nil {
				return err
			}
			mu.Lock()
			forms[key] = err == nil && m.tgt.chunk(info)
			mu.Unlock()
			return nil
		})
	}
	return forms, g.Wait()
}

func (m *migrator) chunkHeader(ctx context.Context, key string) (segments.ChunkInfo, error) {
	b, err := m.head(ctx, key, int64(segments.MaxChunkHeaderSize))
	if err != nil {
		return segments.ChunkInfo{}, err
	}
	info, err := segments.ReadChunkHeader(bytes.NewReader(b))
	if err != nil {
		return info, fmt.Errorf("chunk %s: %w", key, err)
	}
	return info, nil
}
