package retention_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/internal/spill"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// TestMain makes every prune plan of this package's tests keep two
// segment deletions in memory and the rest in its file, read three at a
// time: each prune test takes both ways and the block edges.
func TestMain(m *testing.M) {
	spill.After, spill.Block = 2, 3
	os.Exit(m.Run())
}

// TestSegmentDeletionsSpill: a plan whose segment deletions are in a file
// lists the same deletions, in the same order, with the same reasons, as
// one that keeps them all in memory; the order is timeline by timeline,
// each by key; the totals count them.
func TestSegmentDeletionsSpill(t *testing.T) {
	st := mem.New()
	f := newForks(t, st, 0)
	pol := retention.Policy{Snapshots: 1, Window: time.Hour}
	spill.After = 1 << 20
	inMem := slices.Collect(plan(t, st, pol, f.w.Now()).Segments.All())
	spill.After = 2
	pl := plan(t, st, pol, f.w.Now())
	defer pl.Release()
	got := slices.Collect(pl.Segments.All())
	if len(got) < 10 || !slices.Equal(got, inMem) {
		t.Fatalf("spilled: %d deletions, in memory %d, or they differ", len(got), len(inMem))
	}
	var bytes int64
	var last segments.SegmentName
	for i, d := range got {
		n, err := segments.ParseSegmentKey(d.Key)
		if err != nil || d.Kind != retention.KindSegment || d.Size <= 0 || !strings.Contains(d.Reason, "of timeline") {
			t.Fatalf("deletion %+v: %v", d, err)
		}
		if i > 0 && (n.Timeline < last.Timeline || n.Timeline == last.Timeline && d.Key <= got[i-1].Key) {
			t.Fatalf("deletion %s after %s", d.Key, got[i-1].Key)
		}
		last, bytes = n, bytes+d.Size
	}
	if tot := pl.Totals()[retention.KindSegment]; tot.Objects != len(got) || tot.Bytes != bytes || pl.Segments.Bytes() != bytes {
		t.Fatalf("totals %+v, want %d segments of %d bytes", tot, len(got), bytes)
	}
	if err := pl.Segments.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestSegmentDeletionsFileError: a plan that cannot keep its segment
// deletions fails; an Execute that cannot read them back stops before it
// deletes any segment or timeline record.
func TestSegmentDeletionsFileError(t *testing.T) {
	st := mem.New()
	f := newForks(t, st, 0)
	pol := retention.Policy{Snapshots: 1, Window: time.Hour}
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	if _, err := retention.Plan(context.Background(), st, pol, f.w.Now()); err == nil || !strings.Contains(err.Error(), "spill table") {
		t.Fatalf("plan without a temporary directory: %v", err)
	}
	t.Setenv("TMPDIR", t.TempDir())
	pl := plan(t, st, pol, f.w.Now())
	if pl.Segments.Len() <= spill.After || len(pl.Timelines) == 0 {
		t.Fatalf("fixture: %d segment deletions, %d timeline records", pl.Segments.Len(), len(pl.Timelines))
	}
	pl.Release()
	before := rt.Keys(t, st)
	_, err := retention.Execute(context.Background(), st, pl)
	if !errors.Is(err, spill.ErrReleased) {
		t.Fatalf("execute of a plan whose deletions cannot be read: %v", err)
	}
	after := rt.Keys(t, st)
	for k := range before {
		if _, ok := after[k]; !ok && (strings.HasPrefix(k, segments.SegmentsPrefix) || strings.HasPrefix(k, segments.TimelinesPrefix)) {
			t.Fatalf("%s deleted", k)
		}
	}
}
