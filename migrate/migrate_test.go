package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

func identity(t *testing.T) (*crypt.Identity, *crypt.Recipient) {
	t.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := id.Recipient()
	if !ok {
		t.Fatal("no recipient")
	}
	return id, r
}

func run(t *testing.T, st backends.Store, o Options) *Result {
	t.Helper()
	o.Scratch = t.TempDir()
	res, err := Run(context.Background(), st, o)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("migrate problems: %+v", res.Problems)
	}
	return res
}

// TestMigrateEncrypts: a v1 store with a fork, a gap, points and two
// plain bases sharing chunks becomes v2 sealed to one recipient: segments,
// records, manifests (record version 2) and chunks (version 2, keyed
// names, a key record); no object holds a base's file names or data; every
// target (the bases' included) restores exactly with its identity and none
// without; a second run has nothing to do.
func TestMigrateEncrypts(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	id, r := identity(t)
	before := migratetest.Objects(t, st)
	nseg, nchunks := count(before, segments.SegmentsPrefix), count(before, segments.ChunksPrefix)
	res := run(t, st, Options{Recipients: []*crypt.Recipient{r}})
	if res.Segments.Rewrite != nseg || res.Segments.Deleted != nseg || res.Timelines.Rewrite != 3 || res.Points.Rewrite != 3 {
		t.Fatalf("result %+v, want %d segments, 3 timelines, 3 points", res, nseg)
	}
	if res.Verified.Headers != nseg || res.Verified.Entries != 0 {
		t.Fatalf("verified %+v: without an identity every segment is checked by header", res.Verified)
	}
	if res.Bases.Rewrite != 2 || res.Bases.Deleted != 2 || res.Chunks.Rewrite != nchunks || res.Chunks.Written != nchunks ||
		res.Chunks.Deleted != nchunks || res.Bases.Left != 0 || len(res.Notes) != 0 {
		t.Fatalf("bases %+v, chunks %+v (want 2 bases, %d chunks), notes %q", res.Bases, res.Chunks, nchunks, res.Notes)
	}
	migratetest.CheckTarget(t, st, []*crypt.Recipient{r}, nil)
	migratetest.CheckSealed(t, w, st)
	if _, err := w.Restore(context.Background(), st, pitr.Target{Timeline: 2}); !errors.Is(err, crypt.ErrNoIdentity) {
		t.Fatalf("restore without an identity: %v, want ErrNoIdentity", err)
	}
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)

	again := run(t, st, Options{Recipients: []*crypt.Recipient{r}, Identities: []*crypt.Identity{id}})
	if again.Segments.Rewrite != 0 || again.Segments.Current != nseg || again.Timelines.Current != 3 || again.Points.Current != 3 ||
		again.Bases.Current != 2 || again.Bases.Rewrite != 0 || again.KeyRecords.Current != 1 || again.Chunks.Deleted != 0 {
		t.Fatalf("second run: %+v", again)
	}
}

// TestMigrateVerifiesEntries: with an identity for the target, every new
// segment is opened and compared entry by entry, every new chunk opened
// and compared with the source's bytes.
func TestMigrateVerifiesEntries(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	id, r := identity(t)
	res := run(t, st, Options{Recipients: []*crypt.Recipient{r}, Identities: []*crypt.Identity{id}})
	if res.Verified.Entries != res.Segments.Rewrite || res.Verified.Headers != 0 {
		t.Fatalf("verified %+v of %d", res.Verified, res.Segments.Rewrite)
	}
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)
}

// TestMigratePlain: without recipients segments become plain version 2
// (checked entry by entry), records stay plain version 1.
func TestMigratePlain(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	res := run(t, st, Options{})
	if res.Segments.Rewrite == 0 || res.Verified.Entries != res.Segments.Rewrite || res.Timelines.Current != 3 || res.Points.Current != 3 {
		t.Fatalf("result %+v", res)
	}
	migratetest.CheckTarget(t, st, nil, nil)
	migratetest.RestoreAll(t, w, st)
}

// TestMigrateDryRun writes nothing and counts what a run would do.
func TestMigrateDryRun(t *testing.T) {
	st := mem.New()
	migratetest.Build(t, st)
	_, r := identity(t)
	before := migratetest.Objects(t, st)
	nseg, bytes := count(before, segments.SegmentsPrefix), size(before, segments.SegmentsPrefix)
	nbases, nchunks := count(before, segments.SnapshotsPrefix), count(before, segments.ChunksPrefix)
	res := run(t, st, Options{Recipients: []*crypt.Recipient{r}, DryRun: true})
	if !migratetest.Same(before, migratetest.Objects(t, st)) {
		t.Fatal("a dry run changed the store")
	}
	if !res.DryRun || res.Segments.Rewrite != nseg || res.Segments.Bytes != bytes || res.Segments.Deleted != 0 ||
		res.Timelines.Rewrite != 3 || res.Points.Rewrite != 3 || res.Bases.Rewrite != nbases || res.Bases.Bytes != size(before, segments.SnapshotsPrefix) ||
		res.Chunks.Rewrite != nchunks || res.Chunks.Bytes != size(before, segments.ChunksPrefix) || res.Chunks.Written != 0 {
		t.Fatalf("dry run result %+v, want %d segments of %d bytes, %d bases, %d chunks", res, nseg, bytes, nbases, nchunks)
	}
}

func count(objs []migratetest.Object, prefix string) int {
	n := 0
	for _, o := range objs {
		if strings.HasPrefix(o.Key, prefix) {
			n++
		}
	}
	return n
}

func size(objs []migratetest.Object, prefix string) int64 {
	var n int64
	for _, o := range objs {
		if strings.HasPrefix(o.Key, prefix) {
			n += int64(len(o.Data))
		}
	}
	return n
}
