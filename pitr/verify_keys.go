package pitr

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// keyRecords is what verify learnt from the store's key records
// (keys/chunk-secret/): which secrets have an intact record, and the
// chunk namers the identities given open.
type keyRecords struct {
	ids     []*crypt.Identity
	namers  []*crypt.ChunkNamer
	secrets map[crypt.SecretID]bool
}

// verifyKeyRecords checks every key record's clear part (CRC, lengths, key
// against content) and opens it with ids when they are for its
// recipients; one that they do not open is checked as stored.
func (r *Report) verifyKeyRecords(ctx context.Context, st backends.Store, keys []string, ids []*crypt.Identity) (keyRecords, error) {
	kr := keyRecords{ids: ids, secrets: map[crypt.SecretID]bool{}}
	opened := map[crypt.SecretID]bool{}
	for _, key := range keys {
		b, err := readSmall(ctx, st, key, crypt.MaxKeyRecordSize)
		if err != nil {
			if problem, ok := dataProblem(err); ok {
				r.damage(key, problem)
				continue
			}
			return kr, err
		}
		rec, err := crypt.ParseKeyRecord(b)
		if err != nil {
			r.damage(key, err.Error())
			continue
		}
		if want := crypt.KeyRecordKey(rec.SecretID, rec.Fingerprints); want != key {
			r.damage(key, fmt.Sprintf("the record is for secret id %s and its recipients, stored as %s", rec.SecretID, want))
			continue
		}
		if len(ids) > 0 && !opened[rec.SecretID] {
			s, err := rec.Open(ids)
			switch {
			case err == nil:
				opened[rec.SecretID] = true
				kr.namers = append(kr.namers, crypt.NewChunkNamer(s))
			case !errors.Is(err, crypt.ErrNoIdentity):
				r.damage(key, err.Error())
				continue
			}
		}
		kr.secrets[rec.SecretID] = true
	}
	return kr, nil
}

func (k keyRecords) chunkOptions() segments.ChunkOptions {
	return segments.ChunkOptions{Identities: k.ids, Namers: k.namers}
}

// problem says what is wrong with an encrypted manifest's key record: the
// store must hold one for the secret that named its chunks, or no restore
// can check them by name.
func (k keyRecords) problem(m snapshot.Manifest) string {
	if m.Encryption == nil || k.secrets[m.Encryption.SecretID] {
		return ""
	}
	return fmt.Sprintf("its chunks were named under chunk secret id %s, and the store holds no intact key record for it (%s%s-*.wkey): a restore cannot check its chunks' names (only the files' SHA-256), nor can another agent take the secret over; copy keys/ from another store of this agent",
		m.Encryption.SecretID, crypt.KeyRecordsPrefix, m.Encryption.SecretID)
}

// describeSealed says what verify checked as stored only.
func (r *Report) describeSealed(w io.Writer) {
	if r.SealedSegments > 0 {
		fmt.Fprintf(w, "%d encrypted segment(s) checked as stored (no identity given opens them): header, size and SHA-256 of the stored bytes, their entries counted from the header; give an identity to read every entry\n",
			r.SealedSegments)
	}
	if r.SealedSnapshots == 0 && r.SealedChunks == 0 {
		return
	}
	fmt.Fprintf(w, "%d encrypted snapshot manifest(s) and %d encrypted chunk(s) checked as stored (no identity given opens them): header, size and SHA-256 of the stored bytes; give an identity to open them\n",
		r.SealedSnapshots, r.SealedChunks)
}
