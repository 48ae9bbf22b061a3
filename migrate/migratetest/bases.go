package migratetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	"github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// Adopt registers with w every manifest of st it does not know whose
// position (timeline, index) is that of a base w made: a rewrite of it by
// migrate, which must restore to the same data directory.
func Adopt(t testing.TB, w *retentiontest.World, st backends.Store) {
	t.Helper()
	ms, err := snapshot.List(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, ok := w.Bases[m.Key]; ok {
			continue
		}
		for _, b := range w.Bases {
			if b.Timeline == m.Timeline && b.Index == m.Index {
				b.Key = m.Key
				w.Bases[m.Key] = b
				break
			}
		}
	}
}

// checkBaseObject fails unless a manifest, chunk or key record of st (o)
// is in the target form fps (plain: nil), and, given retired identities,
// none of them opens it. refs gathers the manifests' chunks.
func checkBaseObject(t testing.TB, o Object, fps []crypt.Fingerprint, retired []*crypt.Identity, refs map[string]bool) {
	t.Helper()
	switch {
	case strings.HasPrefix(o.Key, snapshot.InProgressPrefix):
		t.Fatalf("%s: an in-progress marker is left", o.Key)
	case strings.HasPrefix(o.Key, segments.SnapshotsPrefix):
		m, info, err := segments.DecodeSnapshotWith(o.Data, nil)
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		for _, d := range m.ChunkRefs() {
			refs[segments.ChunkKey(d)] = true
		}
		if len(retired) > 0 {
			_, _, err = segments.DecodeSnapshotWith(o.Data, retired)
		}
		checkRecord(t, o.Key, info, err, fps, len(retired) > 0)
	case strings.HasPrefix(o.Key, segments.ChunksPrefix):
		info, err := segments.ReadChunkHeader(bytes.NewReader(o.Data))
		want := segments.ChunkVersion1
		if len(fps) > 0 {
			want = segments.ChunkVersion2
		}
		if err != nil || info.Version != want || !sameFPs(info.Recipients, fps) {
			t.Fatalf("%s: chunk version %d sealed to %v (%v), want version %d sealed to %v", o.Key, info.Version, info.Recipients, err, want, fps)
		}
		if len(retired) > 0 {
			d, _ := segments.ParseChunkKey(o.Key)
			if _, _, err := segments.ReadChunkWith(bytes.NewReader(o.Data), d, segments.ChunkOptions{Identities: retired}); !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("%s opens with a retired identity: %v", o.Key, err)
			}
		}
	case strings.HasPrefix(o.Key, crypt.KeyRecordsPrefix):
		rec, err := crypt.ParseKeyRecord(o.Data)
		if err != nil || !sameFPs(rec.Fingerprints, fps) || len(fps) == 0 {
			t.Fatalf("%s: key record for %v (%v), want one for %v only", o.Key, rec, err, fps)
		}
		if len(retired) > 0 {
			if _, err := rec.Open(retired); !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("%s opens with a retired identity: %v", o.Key, err)
			}
		}
	}
}

// checkRefs fails when a chunk of objs is referenced by no manifest.
func checkRefs(t testing.TB, objs []Object, refs map[string]bool) {
	t.Helper()
	for _, o := range objs {
		if strings.HasPrefix(o.Key, segments.ChunksPrefix) && !refs[o.Key] {
			t.Fatalf("%s: a chunk no manifest refers to", o.Key)
		}
	}
}

// CheckSealed fails when an object of st holds a marker of a base's data:
// the name or the path of a data directory file, or the first 64 bytes of
// one (its digest file's text, its data files' bytes).
func CheckSealed(t testing.TB, w *retentiontest.World, st backends.Store) {
	t.Helper()
	var markers [][]byte
	for _, b := range w.Bases {
		markers = append(markers, []byte(filepath.Base(b.Dir)))
		err := filepath.WalkDir(b.Dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(b.Dir, p)
			markers = append(markers, []byte(filepath.ToSlash(rel)))
			data, err := os.ReadFile(p)
			if len(data) >= 32 {
				markers = append(markers, data[:min(64, len(data))])
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range Objects(t, st) {
		for _, mk := range markers {
			if bytes.Contains(o.Data, mk) {
				t.Fatalf("%s holds %q of a base's data directory", o.Key, mk[:min(len(mk), 24)])
			}
		}
	}
}

// CheckInterrupted fails unless a store an interrupted migrate left (a
// base and its rewrite may stand side by side) verifies without damage
// with ids and prune plans on it.
func CheckInterrupted(t testing.TB, st backends.Store, ids []*crypt.Identity) {
	t.Helper()
	ctx := context.Background()
	rep, err := pitr.VerifyWith(ctx, st, pitr.VerifyOptions{Identities: ids})
	if err != nil || len(rep.Damaged) > 0 {
		t.Fatalf("verify after an interrupted migrate: %v, damage %+v", err, rep.Damaged)
	}
	if _, err := retention.Plan(ctx, st, retention.Policy{Snapshots: 1}, time.Now()); err != nil {
		t.Fatalf("prune plan after an interrupted migrate: %v", err)
	}
}
