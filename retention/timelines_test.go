package retention_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// forks is a history with TruncateBack forks:
//
//	timeline 1: 1..200
//	timeline 2: forked from 1 at 150, own 151..260       (abandoned)
//	timeline 3: forked from 2 at 220, own 221..280       (abandoned)
//	timeline 4: forked from 1 at 120, own 121..240       (newest)
//
// with bases at (1,80), (1,110), (1,180), (2,210), (3,250), (4,200).
type forks struct {
	w     *rt.World
	bases map[[2]uint64]rt.Base
}

func newForks(t *testing.T, st backends.Store, extra int) *forks {
	w := rt.New(t, st, t0, time.Minute)
	w.Extra = extra
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Time: t0}, 200)
	w.Timeline(segments.Timeline{ID: 2, Parent: 1, ForkIndex: 150, StartIndex: 151, Reason: "truncate back"}, 110)
	w.Timeline(segments.Timeline{ID: 3, Parent: 2, ForkIndex: 220, StartIndex: 221, Reason: "truncate back"}, 60)
	w.Timeline(segments.Timeline{ID: 4, Parent: 1, ForkIndex: 120, StartIndex: 121, Reason: "truncate back"}, 120)
	f := &forks{w: w, bases: map[[2]uint64]rt.Base{}}
	for _, b := range [][2]uint64{{1, 80}, {1, 110}, {1, 180}, {2, 210}, {3, 250}, {4, 200}} {
		f.bases[b] = w.Base(uint32(b[0]), b[1])
	}
	return f
}

func TestForkTimelines(t *testing.T) {
	eachStore(t, func(t *testing.T, st backends.Store) {
		f := newForks(t, st, 0)
		w := f.w
		now := w.Now()
		// The last 60 entries of timeline 4 (181..240) are in the window;
		// it starts in the segment holding 181, and restores from the base
		// at (1,110), on timeline 4's history through the fork at 120.
		pol := retention.Policy{Snapshots: 1, Window: time.Hour}
		pl := plan(t, st, pol, now)
		var b bytes.Buffer
		pl.Describe(&b)
		t.Log(b.String())
		win := pl.Targets[0]
		if win.Kind != "window" || win.Timeline != 4 || win.To != 240 || win.BaseIndex != 110 || win.From >= 181 || win.From < 170 {
			t.Fatalf("window %+v", win)
		}
		del := deletedKeys(pl, retention.KindManifest)
		for k, base := range f.bases {
			want := k != [2]uint64{1, 110} && k != [2]uint64{4, 200}
			if del[base.Key] != want {
				t.Errorf("base %v: deleted %v, want %v", k, del[base.Key], want)
			}
		}
		// Timelines 2 and 3 are on no retained history: their segments and
		// records go, newest first.
		if len(pl.Timelines) != 2 || pl.Timelines[0].Key != segments.TimelineKey(3) || pl.Timelines[1].Key != segments.TimelineKey(2) {
			t.Fatalf("timeline deletions %+v", pl.Timelines)
		}
		segDel := deletedKeys(pl, retention.KindSegment)
		for tl, names := range w.Seg {
			for _, n := range names {
				var want bool
				switch tl {
				case 2, 3:
					want = true
				case 1:
					// Needed from 111 (after the base at 110) up to the fork at
					// 120; later segments of timeline 1 stay too (never a suffix).
					want = n.Last < 111
				}
				if segDel[n.Key()] != want {
					t.Errorf("segment %d:%d..%d deleted %v, want %v", tl, n.First, n.Last, segDel[n.Key()], want)
				}
			}
		}
		execute(t, st, pl)
		rt.ManifestsComplete(t, st)
		for _, tg := range retained(w, pl, 1) {
			mustRestore(t, w, st, tg)
		}
		for at := now.Add(-pol.Window); !at.After(now); at = at.Add(3 * time.Minute) {
			mustRestore(t, w, st, pitr.Target{Time: at})
		}
		// The abandoned timelines are gone: a clear error.
		for _, tg := range []pitr.Target{{Timeline: 2, Index: 200}, {Timeline: 3, Index: 250}, {Timeline: 3}} {
			_, err := w.Restore(context.Background(), st, tg)
			if !errors.Is(err, pitr.ErrBrokenHistory) {
				t.Fatalf("restore %s: %v, want a broken-history error", tg, err)
			}
		}
		for _, i := range []uint64{100, 109} {
			restoreFailsClearly(t, w, st, pitr.Target{Timeline: 4, Index: i})
		}
	})
}

// TestForkPinnedOnAbandonedTimeline: a pinned point on an abandoned
// timeline keeps its history: records, the base it restores from, the
// segments after it through the forks.
func TestForkPinnedOnAbandonedTimeline(t *testing.T) {
	eachStore(t, func(t *testing.T, st backends.Store) {
		f := newForks(t, st, 0)
		w := f.w
		w.Point("keep-me", 3, 230, true)
		w.Point("on-2", 2, 200, false)
		pl := plan(t, st, retention.Policy{Snapshots: 1, Window: time.Hour}, w.Now())
		if len(pl.Timelines) != 0 {
			t.Fatalf("timeline deletions %+v", pl.Timelines)
		}
		del := deletedKeys(pl, retention.KindManifest)
		if del[f.bases[[2]uint64{2, 210}].Key] || !del[f.bases[[2]uint64{1, 180}].Key] || !del[f.bases[[2]uint64{3, 250}].Key] {
			t.Fatalf("manifests deleted %v", del)
		}
		segDel := deletedKeys(pl, retention.KindSegment)
		for tl, names := range w.Seg {
			for _, n := range names {
				var want bool
				switch tl {
				case 1:
					want = n.Last < 111
				case 2:
					want = n.Last < 211
				}
				if segDel[n.Key()] != want {
					t.Errorf("segment %d:%d..%d deleted %v, want %v", tl, n.First, n.Last, segDel[n.Key()], want)
				}
			}
		}
		execute(t, st, pl)
		rt.ManifestsComplete(t, st)
		for _, tg := range retained(w, pl, 2) {
			mustRestore(t, w, st, tg)
		}
		p := mustRestore(t, w, st, pitr.Target{Point: "keep-me"})
		if p.Base == nil || p.Base.Index != 210 {
			t.Fatalf("pinned point restored from %+v, want the base at (2,210)", p.Base)
		}
		// The unpinned point on timeline 2 at 200 needs the base at (1,180)
		// or entries 1..200: gone.
		restoreFailsClearly(t, w, st, pitr.Target{Point: "on-2"})
	})
}

// TestWindowBeforeFork: a window reaching back past the fork keeps the
// parent's segments that the newest timeline's history runs through.
func TestWindowBeforeFork(t *testing.T) {
	st := newMem()
	f := newForks(t, st, 0)
	w := f.w
	// 400 minutes: back to entry 91 of timeline 4's history (on timeline
	// 1; 490 entries were created, timeline 1's first).
	pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 400 * time.Minute}, w.Now())
	win := pl.Targets[0]
	if win.BaseIndex != 80 || win.From > 91 || win.From < 80 {
		t.Fatalf("window %+v", win)
	}
	for d := range pl.Segments.All() {
		n, _ := segments.ParseSegmentKey(d.Key)
		if n.Timeline == 1 && n.Last >= 81 || n.Timeline == 4 {
			t.Fatalf("deletes %s, which the window needs", d.Key)
		}
	}
	execute(t, st, pl)
	for _, tg := range retained(w, pl, 1) {
		mustRestore(t, w, st, tg)
	}
}

// TestWindowForever: Window 0 keeps every position of the newest history,
// so every base on it stays too (each is the newest base of some target);
// only the abandoned timelines go.
func TestWindowForever(t *testing.T) {
	st := newMem()
	f := newForks(t, st, 0)
	w := f.w
	pl := plan(t, st, retention.Policy{Snapshots: 1}, w.Now())
	del := deletedKeys(pl, retention.KindManifest)
	for k, b := range f.bases {
		want := k[0] == 2 || k[0] == 3 || k == [2]uint64{1, 180}
		if del[b.Key] != want {
			t.Errorf("base %v deleted %v, want %v", k, del[b.Key], want)
		}
	}
	for d := range pl.Segments.All() {
		if n, _ := segments.ParseSegmentKey(d.Key); n.Timeline != 2 && n.Timeline != 3 {
			t.Fatalf("deletes %s", d.Key)
		}
	}
	execute(t, st, pl)
	for _, tg := range retained(w, pl, 3) {
		mustRestore(t, w, st, tg)
	}
	mustRestore(t, w, st, pitr.Target{Index: 1, NoBase: true})
	mustRestore(t, w, st, pitr.Target{Index: 240, NoBase: true})
}

// gap: timeline 2 starts after a TruncateFront past the agent: entries
// 151..170 were lost.
func newGap(t *testing.T, st backends.Store) (*rt.World, map[[2]uint64]rt.Base) {
	w := rt.New(t, st, t0, time.Minute)
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Time: t0}, 150)
	w.Timeline(segments.Timeline{ID: 2, Parent: 1, ForkIndex: 150, StartIndex: 171, Reason: "truncate front"}, 130)
	bases := map[[2]uint64]rt.Base{}
	for _, b := range [][2]uint64{{1, 60}, {1, 130}, {2, 240}} {
		bases[b] = w.Base(uint32(b[0]), b[1])
	}
	return w, bases
}

func TestGapTimeline(t *testing.T) {
	t.Run("window across the gap", func(t *testing.T) {
		eachStore(t, func(t *testing.T, st backends.Store) {
			w, bases := newGap(t, st)
			// 140 minutes back: into timeline 1 (entry 141 of 300 created).
			pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 140 * time.Minute}, w.Now())
			win := pl.Targets[0]
			if win.BaseIndex != 130 || win.From > 141 || win.From <= 130 {
				t.Fatalf("window %+v", win)
			}
			if del := deletedKeys(pl, retention.KindManifest); len(del) != 1 || !del[bases[[2]uint64{1, 60}].Key] {
				t.Fatalf("manifests deleted %v", del)
			}
			for d := range pl.Segments.All() {
				if n, _ := segments.ParseSegmentKey(d.Key); n.Timeline != 1 || n.Last >= 131 {
					t.Fatalf("deletes %s", d.Key)
				}
			}
			execute(t, st, pl)
			rt.ManifestsComplete(t, st)
			for _, tg := range retained(w, pl, 1) {
				if tg.Index > 150 && tg.Index < 171 {
					continue // lost before shipping: never restorable
				}
				mustRestore(t, w, st, tg)
			}
			_, err := w.Restore(context.Background(), st, pitr.Target{Index: 160})
			if !errors.Is(err, pitr.ErrNotRestorable) {
				t.Fatalf("restore of a lost entry: %v", err)
			}
		})
	})
	t.Run("window after the gap", func(t *testing.T) {
		st := newMem()
		w, bases := newGap(t, st)
		pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 50 * time.Minute}, w.Now())
		win := pl.Targets[0]
		if win.BaseIndex != 240 || win.From < 240 {
			t.Fatalf("window %+v", win)
		}
		del := deletedKeys(pl, retention.KindManifest)
		if len(del) != 2 || del[bases[[2]uint64{2, 240}].Key] {
			t.Fatalf("manifests deleted %v", del)
		}
		// Timeline 1's record stays (timeline 2's history), and its newest
		// segment with it; timeline 2 keeps from the segment holding 241.
		var kept1 int
		segDel := deletedKeys(pl, retention.KindSegment)
		for _, n := range w.Seg[1] {
			if !segDel[n.Key()] {
				kept1++
				if n.Last != 150 {
					t.Fatalf("keeps %s", n.Key())
				}
			}
		}
		for _, n := range w.Seg[2] {
			if segDel[n.Key()] != (n.Last < 241) {
				t.Fatalf("segment %s deleted %v", n.Key(), segDel[n.Key()])
			}
		}
		if kept1 != 1 || len(pl.Timelines) != 0 {
			t.Fatalf("kept %d segments of timeline 1, deletes timelines %v", kept1, pl.Timelines)
		}
		execute(t, st, pl)
		for _, tg := range retained(w, pl, 1) {
			mustRestore(t, w, st, tg)
		}
		for _, i := range []uint64{140, 171, 200, 239} {
			restoreFailsClearly(t, w, st, pitr.Target{Index: i})
		}
		// Latest of timeline 1 fails clearly rather than stopping short.
		restoreFailsClearly(t, w, st, pitr.Target{Timeline: 1})
	})
}
