package migrate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// executeBases deletes the sources of rewrites a killed run finished,
// rewrites the planned bases one after another (their chunks in parallel),
// then cleans up: chunks and key records nothing uses any more.
func (m *migrator) executeBases(ctx context.Context, p *plan) error {
	bp := p.bases
	for _, b := range bp.finish {
		if err := m.step(ctx, b.key, func() error { return m.finishBase(ctx, b) }, func() { m.res.Bases.Finished++ }); err != nil {
			return err
		}
	}
	if len(bp.rewrite) > 0 {
		w := &baseWriter{m: m, written: map[segments.Digest]bool{}, opens: m.tgt.fps == nil || checkOpens(m.tgt.fps, m.o.Identities) == nil}
		if m.tgt.fps != nil {
			s, err := m.chooseSecret(ctx, p)
			if err != nil {
				return err
			}
			w.namer = crypt.NewChunkNamer(s)
		}
		m.res.Bases.Rewrite, m.res.Bases.Bytes = 0, 0
		for _, b := range bp.rewrite {
			if err := m.step(ctx, b.key, func() error { return w.rewriteBase(ctx, b) }, func() {
				m.res.Bases.Rewrite++
				m.res.Bases.Bytes += b.size
				m.o.Progress.Add(1, b.size)
			}); err != nil {
				return err
			}
		}
	}
	return m.cleanup(ctx)
}

// finishBase deletes b, whose rewrite a killed run stored (the plan found
// it current: manifest and chunks in the target form, all present). When
// the identities open both, their files must be the same (paths, types,
// modes, sizes, SHA-256) first.
func (m *migrator) finishBase(ctx context.Context, b *base) error {
	if m.opensBase(b.m) && m.opensBase(b.new.m) {
		lctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
		defer cancel()
		src, err := snapshot.LoadWith(lctx, m.st, b.key, m.o.Identities)
		if err != nil {
			return err
		}
		nm, err := snapshot.LoadWith(lctx, m.st, b.new.key, m.o.Identities)
		if err != nil {
			return err
		}
		if !slices.EqualFunc(src.Files, nm.Files, sameContent) {
			return fmt.Errorf("%w: its rewrite %s holds other files; delete the one that is wrong and run migrate again", ErrMismatch, b.new.key)
		}
	}
	return m.deleteObject(ctx, b.key, &m.res.Bases)
}

// opensBase says whether the identities open a manifest read without them.
func (m *migrator) opensBase(mf snapshot.Manifest) bool {
	return mf.Encryption == nil || checkOpens(mf.Encryption.Recipients, m.o.Identities) == nil
}

// cleanup deletes, unless an upload may be under way (a fresh in-progress
// marker: its chunks are stored before its manifest), every chunk no
// manifest refers to (prune's rule: left by a killed run, or only the old
// bases' now), then re-seals the key records (resealKeys).
func (m *migrator) cleanup(ctx context.Context) error {
	held, err := m.uploadUnderWay(ctx)
	if err != nil {
		return err
	}
	refs := map[string]bool{}
	uses, left := map[crypt.SecretID]bool{}, map[crypt.SecretID]bool{}
	keys, err := m.listManifests(ctx)
	if err != nil {
		return err
	}
	all, err := m.loadBases(ctx, keys)
	if err != nil {
		return err
	}
	unread := len(all) < len(keys)
	for _, b := range all {
		for _, d := range b.m.ChunkRefs() {
			refs[segments.ChunkKey(d)] = true
		}
		if enc := b.m.Encryption; enc != nil {
			uses[enc.SecretID] = true
			if !m.tgt.manifest(b.m) {
				left[enc.SecretID] = true
			}
		}
	}
	switch {
	case held != "":
		m.note(fmt.Sprintf("%s: a snapshot upload may be under way, so no chunk or unused key record was deleted; a later migrate or prune deletes what nothing refers to", held))
	case unread:
		m.note("a manifest did not read: no chunk was deleted (its chunks are unknown)")
	default:
		if err := m.deleteUnreferenced(ctx, refs); err != nil {
			return err
		}
	}
	return m.resealKeys(ctx, uses, left, held != "" || unread)
}

func (m *migrator) deleteUnreferenced(ctx context.Context, refs map[string]bool) error {
	var gone []string
	if err := m.list(ctx, segments.ChunksPrefix, func(oi backends.ObjectInfo) {
		if _, err := segments.ParseChunkKey(oi.Key); err == nil && !refs[oi.Key] {
			gone = append(gone, oi.Key)
		}
	}); err != nil {
		return err
	}
	for _, key := range gone {
		if err := m.deleteObject(ctx, key, &m.res.Chunks); err != nil {
			return err
		}
	}
	return nil
}

// uploadUnderWay names a fresh in-progress marker ("" when none): an
// upload storing chunks before its manifest.
func (m *migrator) uploadUnderWay(ctx context.Context) (string, error) {
	var markers []string
	if err := m.list(ctx, snapshot.InProgressPrefix, func(oi backends.ObjectInfo) {
		if _, err := snapshot.ParseInProgressKey(oi.Key); err == nil {
			markers = append(markers, oi.Key)
		}
	}); err != nil {
		return "", err
	}
	for _, key := range markers {
		cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
		mk, err := snapshot.ReadInProgress(cctx, m.st, key)
		cancel()
		switch {
		case backends.IsNotFound(err):
		case err != nil: // unreadable: held, as prune holds
			return fmt.Sprintf("in-progress marker %s (unreadable: %v)", key, err), ctx.Err()
		case time.Since(mk.Started) < snapshot.InProgressTTL:
			return fmt.Sprintf("in-progress marker %s (started %s)", key, mk.Started.UTC().Format(time.RFC3339)), nil
		}
	}
	return "", nil
}
