package pitr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

func entryAtIndex(t *testing.T, f *fixture, tl uint32, n uint64) segments.Entry {
	t.Helper()
	all, ok := f.expect(tl, n)
	if !ok {
		t.Fatalf("no entry %d on timeline %d", n, tl)
	}
	return all[len(all)-1]
}

func TestMarkListRestoreDelete(t *testing.T) {
	ctx := context.Background()
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			f := fixtureFork(t, mk(t), wal.FormatBinary, 60)
			before := time.Now().UTC()
			// Default: the latest entry of the newest timeline.
			p, err := Mark(ctx, f.st, "before-migration", true, Target{})
			if err != nil {
				t.Fatal(err)
			}
			e := entryAtIndex(t, f, 3, 340)
			if p.Name != "before-migration" || p.Timeline != 3 || p.Index != 340 || !p.Pinned || !p.Time.Equal(time.Unix(0, e.Time)) || p.Created.Before(before.Add(-time.Second)) {
				t.Fatalf("point %+v, want timeline 3 index 340 time %v", p, time.Unix(0, e.Time))
			}
			// On timeline 2 at an index below its fork: the entry comes from timeline 1.
			q, err := Mark(ctx, f.st, "v1.2_old", false, Target{Timeline: 2, Index: 150})
			if err != nil {
				t.Fatal(err)
			}
			if q.Timeline != 2 || q.Index != 150 || !q.Time.Equal(time.Unix(0, f.own[1][149].Time)) {
				t.Fatalf("point %+v", q)
			}
			// By time: the entry a time restore would end at.
			at := time.Unix(0, f.own[2][30].Time)
			r, err := Mark(ctx, f.st, "t", false, Target{Timeline: 2, Time: at})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := f.expectTime(2, at.UnixNano())
			if r.Index != want[len(want)-1].Index || r.Time.After(at) {
				t.Fatalf("time point %+v, want index %d", r, want[len(want)-1].Index)
			}

			// A name is taken once.
			_, err = Mark(ctx, f.st, "before-migration", false, Target{Index: 5})
			if !errors.Is(err, ErrPointExists) || !strings.Contains(err.Error(), "pick another name") {
				t.Fatalf("duplicate: %v", err)
			}
			// Hostile and invalid names never reach the store.
			for _, name := range []string{"", "../etc/passwd", "a/b", ".hidden", "a..b", "-x", "a b", "x\x00", "名前", strings.Repeat("a", 101), "points/x.json"} {
				if _, err := Mark(ctx, f.st, name, false, Target{}); !errors.Is(err, ErrInvalidPointName) {
					t.Errorf("name %q: %v", name, err)
				}
				if _, err := MakePlan(ctx, f.st, Target{Point: name}); name != "" && !errors.Is(err, ErrBadTarget) {
					t.Errorf("target point %q: %v", name, err)
				}
			}
			// Not shipped (yet): refused.
			if _, err := Mark(ctx, f.st, "future", false, Target{Index: 341}); !errors.Is(err, ErrMissingSegments) || !strings.Contains(err.Error(), "shipped up to entry 340") {
				t.Fatalf("future point: %v", err)
			}

			pts, err := ListPoints(ctx, f.st)
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != 3 || pts[0].Name != "before-migration" || pts[1].Name != "t" || pts[2].Name != "v1.2_old" {
				t.Fatalf("points %+v", pts)
			}

			// Restore to a point is the restore to its position.
			all, _ := f.expect(3, 340)
			_, _, got, err := restoreAndRead(t, f.st, Target{Point: "before-migration"}, wal.FormatBinary, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, got, all)
			plan, _, got, err := restoreAndRead(t, f.st, Target{Point: "v1.2_old"}, wal.FormatBinary, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, got, f.own[1][:150])
			if plan.Point == nil || plan.Point.Name != "v1.2_old" || plan.Timeline != 2 {
				t.Fatalf("plan point %+v timeline %d", plan.Point, plan.Timeline)
			}
			var d strings.Builder
			plan.Describe(&d)
			if !strings.Contains(d.String(), `point "v1.2_old"`) || !strings.Contains(d.String(), "v1.2_old: timeline 2, index 150") {
				t.Fatalf("describe:\n%s", d.String())
			}
			if _, err := MakePlan(ctx, f.st, Target{Point: "v1.2_old", Timeline: 3}); !errors.Is(err, ErrBadTarget) {
				t.Fatalf("point with another timeline: %v", err)
			}
			if _, err := MakePlan(ctx, f.st, Target{Point: "t", Index: 3}); !errors.Is(err, ErrBadTarget) {
				t.Fatalf("point and index: %v", err)
			}
			// A missing point: the error lists the ones there are.
			_, err = MakePlan(ctx, f.st, Target{Point: "nope"})
			if !errors.Is(err, ErrNoPoint) || !strings.Contains(err.Error(), "existing points: before-migration, t, v1.2_old") {
				t.Fatalf("missing point: %v", err)
			}

			if err := DeletePoint(ctx, f.st, "t"); err != nil {
				t.Fatal(err)
			}
			if err := DeletePoint(ctx, f.st, "t"); !errors.Is(err, ErrNoPoint) {
				t.Fatalf("delete twice: %v", err)
			}
			if err := DeletePoint(ctx, f.st, "../t"); !errors.Is(err, ErrInvalidPointName) {
				t.Fatalf("delete hostile: %v", err)
			}
			if pts, _ := ListPoints(ctx, f.st); len(pts) != 2 {
				t.Fatalf("after delete: %+v", pts)
			}
			// The name is free again.
			if _, err := Mark(ctx, f.st, "t", false, Target{Index: 7}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// With several stores the point goes to each, and only if each holds the
// entry.
func TestMarkReplicas(t *testing.T) {
	ctx := context.Background()
	a, b := mem.New(), mem.New()
	f := newFixture(t, a, wal.FormatJSON, 61)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 100)
	if _, err := Copy(ctx, a, b, 2, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	f.ship(t, 1, f.entries(101, 20)) // b lags behind a
	both := multi.New(multi.Member{Name: "a", Store: a}, multi.Member{Name: "b", Store: b})
	_, err := Mark(ctx, both, "p", false, Target{})
	if !errors.Is(err, ErrMissingSegments) || !strings.Contains(err.Error(), "in b:") || !strings.Contains(err.Error(), "not shipped there yet") {
		t.Fatalf("lagging store: %v", err)
	}
	for _, st := range []backends.Store{a, b} {
		if _, err := st.Stat(ctx, segments.PointKey("p")); !backends.IsNotFound(err) {
			t.Fatalf("a refused mark wrote to %s: %v", st, err)
		}
	}
	p, err := Mark(ctx, both, "p", false, Target{Index: 90})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []backends.Store{a, b} {
		got, err := LoadPoint(ctx, st, "p")
		if err != nil || got != p {
			t.Fatalf("%s: %+v %v", st, got, err)
		}
	}
	// Taken in one store: refused before anything is written.
	if err := DeletePoint(ctx, a, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := Mark(ctx, both, "p", false, Target{Index: 80}); !errors.Is(err, ErrPointExists) || !strings.Contains(err.Error(), "in b") {
		t.Fatalf("taken in b: %v", err)
	}
	if _, err := a.Stat(ctx, segments.PointKey("p")); !backends.IsNotFound(err) {
		t.Fatal("refused mark wrote to a")
	}
	// Delete removes it from every store.
	if err := DeletePoint(ctx, both, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPoint(ctx, both, "p"); !errors.Is(err, ErrNoPoint) {
		t.Fatalf("after delete: %v", err)
	}
}

// Points are restored from a base when one is there.
func TestPointWithBase(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 62)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 150)
	b := putBase(t, f.st, 1, 100, 20)
	if _, err := Mark(ctx, f.st, "p", false, Target{Index: 120}); err != nil {
		t.Fatal(err)
	}
	restoreBase(t, f.st, Target{Point: "p"}, &b, wal.FormatBinary, f.own[1][100:120], 120)
	if _, err := MakePlan(ctx, f.st, Target{Point: "p", NoBase: true}); err != nil {
		t.Fatal(err)
	}
}
