package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/snapshot"
)

// keyRecord is a key record as listed, its clear part parsed.
type keyRecord struct {
	key string
	rec *crypt.KeyRecord
}

// listKeyRecords reads the clear part of every key record. One that does
// not parse is a Problem and left as it is.
func (m *migrator) listKeyRecords(ctx context.Context) ([]keyRecord, error) {
	var keys []string
	if err := m.list(ctx, crypt.KeyRecordsPrefix, func(oi backends.ObjectInfo) {
		if crypt.IsKeyRecordKey(oi.Key) {
			keys = append(keys, oi.Key)
		}
	}); err != nil {
		return nil, err
	}
	var out []keyRecord
	for _, key := range keys {
		cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
		b, err := snapshot.ReadKeyRecord(cctx, m.st, key)
		cancel()
		if backends.IsNotFound(err) {
			continue
		}
		var rec *crypt.KeyRecord
		if err == nil {
			rec, err = crypt.ParseKeyRecord(b)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			m.res.KeyRecords.Left++
			m.res.Problems = append(m.res.Problems, Problem{Key: key, Problem: "key record left as it is: " + err.Error()})
			continue
		}
		out = append(out, keyRecord{key: key, rec: rec})
	}
	return out, nil
}

func (m *migrator) targetRecord(r keyRecord) bool { return slices.Equal(r.rec.Fingerprints, m.tgt.fps) }

// planKeys counts the key records and refuses (p.lock) when a secret that
// bases in the target form keep using has no record for the target's
// recipients and no identity given opens one of its records: re-sealing it
// needs the secret.
func (m *migrator) planKeys(ctx context.Context, p *plan) error {
	recs, err := m.listKeyRecords(ctx)
	if err != nil {
		return err
	}
	p.keys = recs
	bySecret := map[crypt.SecretID][]keyRecord{}
	for _, r := range recs {
		bySecret[r.rec.SecretID] = append(bySecret[r.rec.SecretID], r)
	}
	for _, r := range recs {
		m.res.KeyRecords.Objects++
		switch {
		case !p.bases.staying[r.rec.SecretID]:
			// no base in the target form uses it: deleted at the end
		case m.targetRecord(r):
			m.res.KeyRecords.Current++
		case slices.ContainsFunc(bySecret[r.rec.SecretID], m.targetRecord):
		case slices.ContainsFunc(bySecret[r.rec.SecretID], func(o keyRecord) bool { return checkOpens(o.rec.Fingerprints, m.o.Identities) == nil }):
			m.res.KeyRecords.Rewrite++
			m.res.KeyRecords.Encrypted++
		default:
			p.lock(r.rec.Fingerprints, r.key)
		}
	}
	return nil
}

// chooseSecret returns the chunk secret new bases are named under, its
// record for the target recipients stored first (create-only): the secret
// of a key record an identity opens (so the agent's bases, named by the
// same secret, share chunks with them), unless a base being rewritten uses
// it (its chunks hold those names in another form); else a new secret.
func (m *migrator) chooseSecret(ctx context.Context, p *plan) (*crypt.ChunkSecret, error) {
	used := map[crypt.SecretID]bool{}
	for _, b := range p.bases.rewrite {
		if b.m.Encryption != nil {
			used[b.m.Encryption.SecretID] = true
		}
	}
	recs := slices.Clone(p.keys)
	slices.SortStableFunc(recs, func(a, b keyRecord) int { // records for the target first
		return boolOrder(m.targetRecord(b)) - boolOrder(m.targetRecord(a))
	})
	var s *crypt.ChunkSecret
	for _, r := range recs {
		if used[r.rec.SecretID] || checkOpens(r.rec.Fingerprints, m.o.Identities) != nil {
			continue
		}
		if opened, err := r.rec.Open(m.o.Identities); err == nil {
			s = opened
			break
		}
	}
	if s == nil {
		var err error
		if s, err = crypt.NewChunkSecret(); err != nil {
			return nil, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	if err := snapshot.EnsureKeyRecord(cctx, m.st, s, m.o.Recipients); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", m.st, err)
	}
	return s, nil
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// resealKeys runs once every base is in the target form: each secret bases
// use gets a record for the target recipients (written from a record an
// identity opens, create-only, read back), then its records for other
// recipients are deleted; records of a secret no base uses any more are
// deleted unless an upload may be under way (held). Records of a secret a
// base left in another form uses stay as they are.
func (m *migrator) resealKeys(ctx context.Context, uses map[crypt.SecretID]bool, left map[crypt.SecretID]bool, held bool) error {
	recs, err := m.listKeyRecords(ctx)
	if err != nil {
		return err
	}
	m.res.KeyRecords.Rewrite, m.res.KeyRecords.Encrypted = 0, 0
	resealed := map[crypt.SecretID]bool{}
	for _, r := range recs {
		id := r.rec.SecretID
		switch {
		case left[id] || (uses[id] && m.targetRecord(r)):
			continue
		case !uses[id] && held:
			continue
		case uses[id] && !resealed[id]:
			if err := m.reseal(ctx, recs, id); err != nil {
				m.res.KeyRecords.Left++
				m.res.Problems = append(m.res.Problems, Problem{Key: r.key, Problem: "key record left as it is: " + err.Error()})
				continue
			}
			resealed[id] = true
		}
		if err := m.deleteObject(ctx, r.key, &m.res.KeyRecords); err != nil {
			return err
		}
	}
	return nil
}

// reseal makes sure secret id has a record for the target recipients,
// opening one of its records with the identities when it has none.
func (m *migrator) reseal(ctx context.Context, recs []keyRecord, id crypt.SecretID) error {
	var errs []error
	for _, r := range recs {
		if r.rec.SecretID != id {
			continue
		}
		if m.targetRecord(r) {
			return nil
		}
		s, err := r.rec.Open(m.o.Identities)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
		err = snapshot.EnsureKeyRecord(cctx, m.st, s, m.o.Recipients) // reads an existing one back
		cancel()
		if err != nil {
			return err
		}
		if err := m.checkSealed(ctx, s); err != nil {
			return err
		}
		m.res.KeyRecords.Rewrite++
		m.res.KeyRecords.Encrypted++
		return nil
	}
	return fmt.Errorf("chunk secret id %s: %w", id, errors.Join(errs...))
}

// checkSealed reads the target record of s back; with an identity for the
// target it must open to s.
func (m *migrator) checkSealed(ctx context.Context, s *crypt.ChunkSecret) error {
	key := crypt.KeyRecordKey(s.ID(), m.tgt.fps)
	cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	b, err := snapshot.ReadKeyRecord(cctx, m.st, key)
	cancel()
	if err != nil {
		return err
	}
	rec, err := crypt.ParseKeyRecord(b)
	if err != nil || rec.SecretID != s.ID() || !slices.Equal(rec.Fingerprints, m.tgt.fps) {
		return fmt.Errorf("check key record %s: %w: %v", key, ErrMismatch, err)
	}
	if checkOpens(m.tgt.fps, m.o.Identities) != nil {
		return nil
	}
	if got, err := rec.Open(m.o.Identities); err != nil || !got.Equal(s) {
		return fmt.Errorf("check key record %s: %w: it does not open to the secret (%v)", key, ErrMismatch, err)
	}
	return nil
}
