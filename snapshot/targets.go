package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// Target is a store an upload writes to, and how: plain (no Recipients),
// or encrypted to Recipients with its chunks named under ChunkSecret
// (crypt.ChunkNamer). An encrypted target gets version 2 chunks under keyed
// names, a version 2 manifest, and the key record that seals ChunkSecret to
// Recipients (keys/chunk-secret/, written once, before the first chunk).
type Target struct {
	Store       backends.Store
	Recipients  []*crypt.Recipient
	ChunkSecret *crypt.ChunkSecret
}

func (tg Target) encrypted() bool { return len(tg.Recipients) > 0 }

func (tg Target) check() error {
	switch n := len(crypt.Fingerprints(tg.Recipients)); {
	case tg.Store == nil:
		return errors.New("upload target without a store")
	case n > segments.MaxRecipients:
		return fmt.Errorf("store %s: %d recipients, at most %d", tg.Store, n, segments.MaxRecipients)
	case n > 0 && tg.ChunkSecret == nil:
		return fmt.Errorf("store %s: encrypted without a chunk secret", tg.Store)
	}
	return nil
}

// targets returns where an upload goes: o.Targets, or st with o's
// encryption.
func (o Options) targets(st backends.Store) ([]Target, error) {
	ts := o.Targets
	switch {
	case len(ts) > 0 && st != nil:
		return nil, errors.New("a store and Options.Targets given: give one")
	case len(ts) == 0:
		ts = []Target{{Store: st, Recipients: o.Recipients, ChunkSecret: o.ChunkSecret}}
	}
	for _, tg := range ts {
		if err := tg.check(); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// shared is what every target's manifest of one capture has in common: the
// same snapshot, under one key, in every store.
type shared struct {
	id   string
	time time.Time
}

// upload stores the snapshot of dir (captured once) into each target in
// turn, each under the same id. A target that fails does not stop the
// others; the error joins every failure. It returns the first manifest
// stored, the capture's counts, and the store work of all targets.
func upload(ctx context.Context, st backends.Store, dir string, t tree, index uint64, o Options) (Manifest, Stats, error) {
	ts, err := o.targets(st)
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	id, err := NewID()
	if err != nil {
		return Manifest{}, Stats{}, err
	}
	sh := shared{id: id, time: time.Now().UTC().Round(0)}
	var first Manifest
	var total Stats
	var errs []error
	for i, tg := range ts {
		m, stats, err := uploadOne(ctx, tg, dir, t, index, o, sh)
		if i == 0 {
			total = stats
		} else {
			total.ChunksUploaded += stats.ChunksUploaded
			total.ChunksSkipped += stats.ChunksSkipped
			total.BytesUploaded += stats.BytesUploaded
			total.ManifestBytes += stats.ManifestBytes
		}
		if err != nil {
			if len(ts) > 1 {
				err = fmt.Errorf("store %s: %w", tg.Store, err)
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if first.ID == "" {
			first = m
		}
	}
	if len(errs) > 0 {
		return first, total, errors.Join(errs...)
	}
	return first, total, nil
}

// EnsureKeyRecord makes sure st holds the key record sealing s to rs
// (create-only): one already there is fine when its clear part names the
// same secret and recipients (its key says as much; the agent, holding no
// identity, cannot open it). Upload and walship migrate write records so.
func EnsureKeyRecord(ctx context.Context, st backends.Store, s *crypt.ChunkSecret, rs []*crypt.Recipient) error {
	fps := crypt.Fingerprints(rs)
	key := crypt.KeyRecordKey(s.ID(), fps)
	if _, err := st.Stat(ctx, key); err == nil {
		return checkKeyRecord(ctx, st, key, s.ID(), fps)
	} else if !backends.IsNotFound(err) {
		return fmt.Errorf("check key record %s: %w", key, err)
	}
	b, err := crypt.EncodeKeyRecord(s, rs)
	if err != nil {
		return err
	}
	switch err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b))); {
	case backends.IsExists(err):
		return checkKeyRecord(ctx, st, key, s.ID(), fps)
	case err != nil:
		return fmt.Errorf("store key record %s: %w", key, err)
	}
	return nil
}

func checkKeyRecord(ctx context.Context, st backends.Store, key string, id crypt.SecretID, fps []crypt.Fingerprint) error {
	b, err := ReadKeyRecord(ctx, st, key)
	if err != nil {
		return err
	}
	rec, err := crypt.ParseKeyRecord(b)
	if err != nil {
		return fmt.Errorf("key record %s: %w: %w", key, ErrCorrupt, err)
	}
	if rec.SecretID != id || !slices.Equal(rec.Fingerprints, fps) {
		return fmt.Errorf("key record %s: %w: it holds secret id %s for other recipients", key, ErrCorrupt, rec.SecretID)
	}
	return nil
}

// ReadKeyRecord reads the key record at key, at most
// crypt.MaxKeyRecordSize bytes (more: ErrCorrupt).
func ReadKeyRecord(ctx context.Context, st backends.Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read key record %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, crypt.MaxKeyRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key record %s: %w", key, err)
	}
	if len(b) > crypt.MaxKeyRecordSize {
		return nil, fmt.Errorf("read key record %s: %w: over %d bytes", key, ErrCorrupt, crypt.MaxKeyRecordSize)
	}
	return b, nil
}

// ErrNoKeyRecord: the store holds no key record for a snapshot's chunk
// secret (also ErrCorrupt: the store lacks an object walship wrote).
var ErrNoKeyRecord = errors.New("no key record")

// Namer opens the key records of st for secret id with ids and returns
// the chunk namer they hold. No record for id: an error wrapping
// ErrNoKeyRecord and ErrCorrupt. Records exist but
// none opens with ids: an error matching crypt.ErrNoIdentity naming every
// recipient that would.
func Namer(ctx context.Context, st backends.Store, id crypt.SecretID, ids []*crypt.Identity) (*crypt.ChunkNamer, error) {
	prefix := crypt.KeyRecordsPrefix + id.String() + "-"
	var keys []string
	err := st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
		if crypt.IsKeyRecordKey(oi.Key) {
			keys = append(keys, oi.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", prefix, st, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %w for chunk secret id %s under %s (copy keys/ from the store the snapshot was taken to)", ErrCorrupt, ErrNoKeyRecord, id, crypt.KeyRecordsPrefix)
	}
	var recorded []crypt.Fingerprint
	var errs []error
	for _, key := range keys {
		b, err := ReadKeyRecord(ctx, st, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rec, err := crypt.ParseKeyRecord(b)
		if err == nil && rec.SecretID != id {
			err = fmt.Errorf("%w: it holds secret id %s", crypt.ErrCorrupt, rec.SecretID)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("key record %s: %w: %w", key, ErrCorrupt, err))
			continue
		}
		recorded = append(recorded, rec.Fingerprints...)
		s, err := rec.Open(ids)
		if err == nil {
			return crypt.NewChunkNamer(s), nil
		}
		if !errors.Is(err, crypt.ErrNoIdentity) {
			errs = append(errs, fmt.Errorf("key record %s: %w: %w", key, ErrCorrupt, err))
		}
	}
	if len(recorded) > 0 { // damaged records aside, none opens with ids
		slices.SortFunc(recorded, func(a, b crypt.Fingerprint) int { return bytes.Compare(a[:], b[:]) })
		return nil, fmt.Errorf("chunk secret id %s: %w", id, &crypt.NoIdentityError{Recorded: slices.Compact(recorded), Given: crypt.IdentityFingerprints(ids)})
	}
	return nil, fmt.Errorf("chunk secret id %s: %w", id, errors.Join(errs...))
}
