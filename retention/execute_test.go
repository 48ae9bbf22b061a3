package retention_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// signature is what a restore plan reads: its base and its segments.
func signature(p *pitr.Plan) string {
	var b strings.Builder
	if p.Base != nil {
		b.WriteString(p.Base.Key)
	}
	for _, s := range p.Segments.All() {
		fmt.Fprintf(&b, " %s[%d..%d]", s.Key(), s.From, s.To)
	}
	return b.String()
}

func signatures(t *testing.T, st backends.Store, tgs []pitr.Target) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tg := range tgs {
		p, err := pitr.MakePlan(context.Background(), st, tg)
		if err != nil {
			t.Fatalf("plan %s: %v", tg, err)
		}
		out[tg.String()] = signature(p)
	}
	return out
}

// TestInterruptedPrune stops Execute after K deletions, for every K from 0
// to the total (an error, or a cancelled context, as kill -9 would stop
// it): the retained targets still plan exactly as before the prune (same
// base, same segments; a third of them at each K, in turn) and restore, no manifest misses a chunk, and a new
// prune finishes the job with the same end state as one uninterrupted run.
func TestInterruptedPrune(t *testing.T) {
	ctx := context.Background()
	tmpl := newMem()
	f := newForks(t, tmpl, 3*rt.ChunkSize+10)
	w := f.w
	w.Point("pinned", 4, 150, true)
	now := w.Now()
	pol := retention.Policy{Snapshots: 1, Window: time.Hour}
	full := plan(t, tmpl, pol, now)
	targets := retained(w, full, 1)
	ref := signatures(t, tmpl, targets)
	done := rt.Clone(t, tmpl)
	execute(t, done, plan(t, done, pol, now))
	want := rt.Keys(t, done)
	total := full.Count()
	tmplKeys := rt.Keys(t, tmpl)
	kinds := map[retention.Kind]int{}
	for d := range full.All() {
		kinds[d.Kind]++
	}
	if kinds[retention.KindManifest] == 0 || kinds[retention.KindChunk] < 8 || kinds[retention.KindSegment] == 0 || kinds[retention.KindTimeline] == 0 {
		t.Fatalf("fixture: deletions per kind %v", kinds)
	}
	t.Logf("%d deletions: %v; %d retained targets", total, kinds, len(targets))

	// check plans the targets whose place in targets is k mod 3 (all of
	// them when all is set). A deletion a target needs stays deleted for
	// every larger K, so a target broken at K is caught by K+2 at the
	// latest, and the last K checks them all.
	check := func(t *testing.T, st backends.Store, k int, restores, all bool) {
		t.Helper()
		rt.ManifestsComplete(t, st)
		var some []pitr.Target
		for i, tg := range targets {
			if all || i%3 == k%3 {
				some = append(some, tg)
			}
		}
		for tg, sig := range signatures(t, st, some) {
			if sig != ref[tg] {
				t.Fatalf("after %d deletions, %s plans %q, before the prune %q", k, tg, sig, ref[tg])
			}
		}
		if restores {
			for i, tg := range targets {
				if i%9 == 0 || i == len(targets)-1 {
					mustRestore(t, w, st, tg)
				}
			}
		}
	}
	finish := func(t *testing.T, st backends.Store) {
		t.Helper()
		execute(t, st, plan(t, st, pol, now))
		if got := rt.Keys(t, st); !maps.Equal(got, want) {
			t.Fatalf("after finishing: %d objects, an uninterrupted prune leaves %d", len(got), len(want))
		}
	}
	for k := 0; k <= total; k++ {
		st := rt.Clone(t, tmpl)
		fa := &rt.FailAfter{Store: st, Left: k}
		pl := plan(t, st, pol, now)
		s, err := retention.Execute(ctx, fa, pl)
		switch {
		case k < total && !errors.Is(err, rt.ErrInjected):
			t.Fatalf("K=%d: err %v", k, err)
		case k == total && err != nil:
			t.Fatalf("K=%d: %v", k, err)
		case s.Deleted() > k || s.Deleted() != len(tmplKeys)-len(rt.Keys(t, st)):
			// (A deletion in flight when another fails may be cancelled.)
			t.Fatalf("K=%d: stats say %d deleted, %d objects are gone", k, s.Deleted(), len(tmplKeys)-len(rt.Keys(t, st)))
		}
		check(t, st, k, k%4 == 0 || k == total-1, k == 0 || k >= total-1)
		finish(t, st)
	}
	// Cancelled contexts, and the file store, at a few points.
	for _, k := range []int{0, 1, total / 3, total / 2, total - 1} {
		st := rt.Clone(t, tmpl)
		cctx, cancel := context.WithCancel(ctx)
		fa := &rt.FailAfter{Store: st, Left: k, Cancel: cancel}
		_, err := retention.Execute(cctx, fa, plan(t, st, pol, now))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("K=%d cancelled: err %v", k, err)
		}
		check(t, st, k, false, true)
		finish(t, st)

		fst, err := file.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		rt.CopyInto(t, tmpl, fst)
		_, err = retention.Execute(ctx, &rt.FailAfter{Store: fst, Left: k}, plan(t, fst, pol, now))
		if !errors.Is(err, rt.ErrInjected) {
			t.Fatalf("file K=%d: err %v", k, err)
		}
		check(t, fst, k, true, true)
		finish(t, fst)
	}
}

// TestExecuteOrder: manifests, then chunks, then segments, then timeline
// records (newest first), then markers.
func TestExecuteOrder(t *testing.T) {
	st := newMem()
	f := newForks(t, st, 2*rt.ChunkSize)
	pl := plan(t, st, retention.Policy{Snapshots: 1, Window: time.Hour}, f.w.Now())
	fa := &rt.FailAfter{Store: st, Left: 1 << 30}
	if _, err := retention.Execute(context.Background(), fa, pl); err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{segments.SnapshotsPrefix: 0, segments.ChunksPrefix: 1, segments.SegmentsPrefix: 2, segments.TimelinesPrefix: 3}
	last := 0
	for _, key := range fa.Deleted {
		for p, r := range rank {
			if strings.HasPrefix(key, p) {
				if r < last {
					t.Fatalf("%s deleted after a later phase began: %v", key, fa.Deleted)
				}
				last = r
			}
		}
	}
	var tls []string
	for _, key := range fa.Deleted {
		if strings.HasPrefix(key, segments.TimelinesPrefix) {
			tls = append(tls, key)
		}
	}
	if !slices.Equal(tls, []string{segments.TimelineKey(3), segments.TimelineKey(2)}) {
		t.Fatalf("timeline records deleted in order %v", tls)
	}
}

// TestStoreChangedSincePlan: a new timeline (a fork) or a new pinned point
// after planning stops Execute before it deletes more.
func TestStoreChangedSincePlan(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(w *rt.World)
	}{
		{"fork", func(w *rt.World) {
			w.Timeline(segments.Timeline{ID: 5, Parent: 4, ForkIndex: 100, StartIndex: 101, Reason: "truncate back"}, 5)
		}},
		{"pinned point", func(w *rt.World) { w.Point("late", 4, 100, true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newMem()
			f := newForks(t, st, 0)
			pl := plan(t, st, retention.Policy{Snapshots: 1, Window: time.Hour}, f.w.Now())
			before := rt.Keys(t, st)
			c.change(f.w)
			s, err := retention.Execute(context.Background(), st, pl)
			if !errors.Is(err, retention.ErrChanged) || s.Deleted() != 0 {
				t.Fatalf("err %v, deleted %d", err, s.Deleted())
			}
			for k := range before {
				if _, err := st.Stat(context.Background(), k); err != nil {
					t.Fatalf("%s: %v", k, err)
				}
			}
		})
	}
	// An unpinned point changes nothing.
	st := newMem()
	f := newForks(t, st, 0)
	pl := plan(t, st, retention.Policy{Snapshots: 1, Window: time.Hour}, f.w.Now())
	f.w.Point("loose", 4, 100, false)
	execute(t, st, pl)
}

// TestPrune: the one-call form logs and returns what Execute did.
func TestPrune(t *testing.T) {
	st := newMem()
	l := newLinear(t, st)
	var logs strings.Builder
	s, err := retention.Prune(context.Background(), st, retention.Policy{Snapshots: 1, Window: 2 * time.Hour}, l.w.Now(), testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if s.Deleted() == 0 || !strings.Contains(logs.String(), "prune done") || !strings.Contains(logs.String(), "prune planned") {
		t.Fatalf("stats %+v, logs:\n%s", s, logs.String())
	}
	if _, err := retention.Plan(context.Background(), st, retention.Policy{Snapshots: -1}, time.Now()); !errors.Is(err, retention.ErrPolicy) {
		t.Fatalf("negative policy: %v", err)
	}
}
