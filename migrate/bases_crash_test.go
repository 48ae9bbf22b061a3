package migrate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// failing fails Put or Delete of manifests: a run killed after its chunks
// (failPut) or after the new manifest (failDelete).
type failing struct {
	*mem.Store
	failPut, failDelete bool
}

var errInjected = errors.New("injected failure")

func isManifest(key string) bool {
	_, err := segments.ParseSnapshotKey(key)
	return err == nil
}

func (f *failing) Put(ctx context.Context, key string, r io.ReadSeeker, n int64) error {
	if f.failPut && isManifest(key) {
		return errInjected
	}
	return f.Store.Put(ctx, key, r, n)
}

func (f *failing) Delete(ctx context.Context, key string) error {
	if f.failDelete && isManifest(key) {
		return errInjected
	}
	return f.Store.Delete(ctx, key)
}

// TestMigrateBasesInterrupted: a run whose new manifests fail to store
// leaves the old bases and no chunk of its own (cleanup); a run whose old
// manifests fail to delete leaves each base and its rewrite side by side,
// both restorable, verified and planned by prune; the next run finds the
// rewrites, checks their files against the old ones and deletes the old
// bases, and the store is wholly in the target form.
func TestMigrateBasesInterrupted(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	id, r := identity(t)
	w.Identities = []*crypt.Identity{id}
	o := Options{Recipients: []*crypt.Recipient{r}, Identities: w.Identities, Scratch: t.TempDir()}
	ctx := context.Background()
	nchunks := count(migratetest.Objects(t, st), segments.ChunksPrefix)

	fs := &failing{Store: st, failPut: true}
	res, err := Run(ctx, fs, o)
	if err != nil || len(res.Problems) != 2 || res.Bases.Rewrite != 0 || res.Chunks.Written == 0 || res.Chunks.Deleted != res.Chunks.Written {
		t.Fatalf("manifests failing: %v, problems %+v, bases %+v, chunks %+v", err, res.Problems, res.Bases, res.Chunks)
	}
	if n := count(migratetest.Objects(t, st), segments.ChunksPrefix); n != nchunks {
		t.Fatalf("%d chunks after a failed run, want the %d of the old bases", n, nchunks)
	}

	fs.failPut, fs.failDelete = false, true
	if res, err = Run(ctx, fs, o); err != nil || len(res.Problems) != 2 {
		t.Fatalf("deletes failing: %v, problems %+v", err, res.Problems)
	}
	ms, err := snapshot.List(ctx, st)
	if err != nil || len(ms) != 4 {
		t.Fatalf("%d manifests (%v), want each base and its rewrite", len(ms), err)
	}
	migratetest.RestoreAll(t, w, st)
	migratetest.CheckInterrupted(t, st, w.Identities)

	res = run(t, st, Options{Recipients: []*crypt.Recipient{r}, Identities: w.Identities})
	if res.Bases.Finished != 2 || res.Bases.Rewrite != 0 || res.Bases.Deleted != 2 {
		t.Fatalf("bases %+v: want both finished", res.Bases)
	}
	migratetest.CheckTarget(t, st, []*crypt.Recipient{r}, nil)
	migratetest.RestoreAll(t, w, st)
}

// TestMigrateBasesHeld: while an upload's in-progress marker is fresh,
// migrate rewrites the bases but deletes no chunk nor unused key record,
// and says so; once the marker is gone a run deletes them.
func TestMigrateBasesHeld(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	id, r := identity(t)
	mid, _ := snapshot.NewID()
	b, err := snapshot.EncodeInProgress(mid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Put(ctx, snapshot.InProgressKey(mid), bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	res := run(t, st, Options{Recipients: []*crypt.Recipient{r}})
	if res.Bases.Rewrite != 2 || res.Chunks.Deleted != 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "a snapshot upload may be under way") {
		t.Fatalf("bases %+v, chunks %+v, notes %q", res.Bases, res.Chunks, res.Notes)
	}
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)
	if err := st.Delete(ctx, snapshot.InProgressKey(mid)); err != nil {
		t.Fatal(err)
	}
	res = run(t, st, Options{Recipients: []*crypt.Recipient{r}})
	if res.Bases.Current != 2 || res.Chunks.Deleted == 0 {
		t.Fatalf("bases %+v, chunks %+v", res.Bases, res.Chunks)
	}
	migratetest.CheckTarget(t, st, []*crypt.Recipient{r}, nil)
	migratetest.RestoreAll(t, w, st)
}
