package retention_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// linear is one timeline of 300 entries, one a minute, bases at 20, 50,
// 120, 200 and 260, a pinned point at 60 and unpinned ones at 40 and 80.
type linear struct {
	w     *rt.World
	bases map[uint64]rt.Base
}

func newLinear(t *testing.T, st backends.Store) *linear {
	w := rt.New(t, st, t0, time.Minute)
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "test", Time: t0}, 300)
	l := &linear{w: w, bases: map[uint64]rt.Base{}}
	for _, i := range []uint64{20, 50, 120, 200, 260} {
		l.bases[i] = w.Base(1, i)
	}
	w.Point("pinned-60", 1, 60, true)
	w.Point("loose-40", 1, 40, false)
	w.Point("loose-80", 1, 80, false)
	return l
}

func TestWindowPrune(t *testing.T) {
	eachStore(t, func(t *testing.T, st backends.Store) {
		ctx := context.Background()
		l := newLinear(t, st)
		w := l.w
		now := w.Now()
		pol := retention.Policy{Snapshots: 1, Window: 2 * time.Hour}
		before := rt.Keys(t, st)
		pl := plan(t, st, pol, now)
		var desc bytes.Buffer
		pl.Describe(&desc)
		t.Log(desc.String())

		// The window: entry 181 is the first at or after now-2h; it lies in
		// segment 177..181 (lengths 7,3,11,5,9,1,13,6,...), so the window's
		// earliest target is 176, restored from the base at 120.
		var win retention.Target
		for _, tg := range pl.Targets {
			if tg.Kind == "window" {
				win = tg
			}
		}
		seg181 := segmentHolding(t, w, 1, 181)
		if win.From != seg181.First-1 || win.To != 300 || win.BaseIndex != 120 {
			t.Fatalf("window target %+v, want %d..300 from the base at 120 (segment %+v)", win, seg181.First-1, seg181)
		}
		// Only the base at 20 goes: 260 is the newest, 120 and 200 serve
		// the window, 50 the pinned point.
		if got := deletedKeys(pl, retention.KindManifest); len(got) != 1 || !got[l.bases[20].Key] {
			t.Fatalf("manifests deleted %v, want only the base at 20", got)
		}
		// Segments: wholly before entry 51 (the pinned point's base is at
		// 50); the segment 50..55 straddles the base and stays.
		straddle := segmentHolding(t, w, 1, 51)
		if straddle.First > 50 {
			t.Fatalf("fixture: segment %+v does not straddle the base at 50", straddle)
		}
		segDel := deletedKeys(pl, retention.KindSegment)
		for _, n := range w.Seg[1] {
			if want := n.Last < 51; segDel[n.Key()] != want {
				t.Errorf("segment %d..%d: deleted %v, want %v", n.First, n.Last, segDel[n.Key()], want)
			}
		}
		if len(pl.Timelines) != 0 || len(pl.Markers) != 0 || pl.Hold != "" {
			t.Fatalf("plan deletes timelines %v, markers %v, hold %q", pl.Timelines, pl.Markers, pl.Hold)
		}
		// Chunks: only those of the base at 20 that no kept base shares.
		chunkDel := deletedKeys(pl, retention.KindChunk)
		shared := chunksOf(t, st, l.bases[20].Key)
		kept := map[string]bool{}
		for _, i := range []uint64{50, 120, 200, 260} {
			maps.Copy(kept, chunksOf(t, st, l.bases[i].Key))
		}
		nShared := 0
		for c := range shared {
			if kept[c] == chunkDel[c] {
				t.Errorf("chunk %s: kept by a retained base %v, deleted %v", c, kept[c], chunkDel[c])
			}
			if kept[c] {
				nShared++
			}
		}
		if nShared == 0 || len(chunkDel) == 0 {
			t.Fatalf("fixture: base 20 shares %d chunks, %d deleted", nShared, len(chunkDel))
		}
		if !strings.Contains(desc.String(), "wholly before entry 51") || !strings.Contains(desc.String(), "not among the newest 1 bases") {
			t.Fatalf("describe lacks reasons:\n%s", desc.String())
		}
		if after := rt.Keys(t, st); !maps.Equal(before, after) {
			t.Fatal("planning changed the store")
		}

		s := execute(t, st, pl)
		t.Logf("stats %+v", s)
		after := rt.Keys(t, st)
		for d := range pl.All() {
			if _, ok := after[d.Key]; ok {
				t.Fatalf("%s still there", d.Key)
			}
		}
		if len(after) != len(before)-pl.Count() {
			t.Fatalf("%d objects after, %d before, %d deleted", len(after), len(before), pl.Count())
		}
		rt.ManifestsComplete(t, st)

		// Every position of the window and the pinned point restore exactly.
		for _, tg := range retained(w, pl, 1) {
			mustRestore(t, w, st, tg)
		}
		// Times across the window restore exactly: every 130 s, which
		// falls at offsets 10 s apart into an entry's minute.
		for at := now.Add(-pol.Window); !at.After(now); at = at.Add(130 * time.Second) {
			mustRestore(t, w, st, pitr.Target{Time: at})
		}
		mustRestore(t, w, st, pitr.Target{Latest: true})
		// Outside the window: a clear error or the right answer, never a
		// wrong one; what needs the deleted base or segments fails.
		failed := 0
		for i := uint64(1); i < win.From; i += 3 {
			if restoreFailsClearly(t, w, st, pitr.Target{Index: i}) {
				failed++
			}
		}
		for _, i := range []uint64{1, 19, 20, 49} {
			if !restoreFailsClearly(t, w, st, pitr.Target{Index: i}) {
				t.Errorf("index %d restored though what it needs was pruned", i)
			}
		}
		for at := t0; at.Before(now.Add(-pol.Window)); at = at.Add(7 * time.Minute) {
			restoreFailsClearly(t, w, st, pitr.Target{Time: at})
		}
		if !restoreFailsClearly(t, w, st, pitr.Target{Point: "loose-40"}) {
			t.Error("the unpinned point at 40 restored, though its base and segments are gone")
		}
		// The unpinned point at 80 happens to be covered (base 50 + kept
		// segments): it restores, correctly.
		mustRestore(t, w, st, pitr.Target{Point: "loose-80"})
		// Point records all stay.
		if n := len(rt.Keys(t, st)); n == 0 {
			t.Fatal("empty store")
		}
		for _, name := range []string{"pinned-60", "loose-40", "loose-80"} {
			if _, err := st.Stat(ctx, segments.PointKey(name)); err != nil {
				t.Fatalf("point %s: %v", name, err)
			}
		}
		// A second prune finds nothing more to delete.
		if pl2 := plan(t, st, pol, now); pl2.Count() != 0 {
			var b bytes.Buffer
			pl2.Describe(&b)
			t.Fatalf("second prune deletes more:\n%s", b.String())
		}
		t.Logf("%d positions outside the window failed clearly", failed)
	})
}

// TestDryRun: planning and describing delete nothing and name every
// object with its reason.
func TestDryRun(t *testing.T) {
	eachStore(t, func(t *testing.T, st backends.Store) {
		l := newLinear(t, st)
		before := rt.Keys(t, st)
		pl := plan(t, st, retention.Policy{Snapshots: 1, Window: time.Hour}, l.w.Now())
		var b bytes.Buffer
		pl.Describe(&b)
		if !maps.Equal(before, rt.Keys(t, st)) {
			t.Fatal("dry run changed the store")
		}
		out := b.String()
		if pl.Count() == 0 {
			t.Fatal("nothing to delete")
		}
		for d := range pl.All() {
			if d.Reason == "" {
				t.Fatalf("%s: no reason", d.Key)
			}
			if !strings.Contains(out, d.Key) || !strings.Contains(out, d.Reason) {
				t.Fatalf("describe does not list %s with its reason", d.Key)
			}
		}
		if !strings.Contains(out, pl.Summary()) || !strings.Contains(out, "retained targets") {
			t.Fatalf("describe:\n%s", out)
		}
	})
}

// TestKeepAll: the zero policy keeps every base and every position of the
// newest history; only garbage goes.
func TestKeepAll(t *testing.T) {
	eachStore(t, func(t *testing.T, st backends.Store) {
		l := newLinear(t, st)
		orphan := bytes.Repeat([]byte("x"), 100)
		key := putChunk(t, st, orphan)
		pl := plan(t, st, retention.Policy{}, l.w.Now())
		if all := slices.Collect(pl.All()); len(all) != 1 || all[0].Key != key || !strings.Contains(all[0].Reason, "referenced by no manifest") {
			t.Fatalf("deletes %+v, want only the orphan chunk %s", all, key)
		}
		execute(t, st, pl)
		for _, tg := range retained(l.w, pl, 7) {
			mustRestore(t, l.w, st, tg)
		}
		mustRestore(t, l.w, st, pitr.Target{Index: 1})
		mustRestore(t, l.w, st, pitr.Target{Index: 19})
	})
}

// TestSnapshotsOnly: a short window and one base: every base but the
// newest and the one the window starts from goes.
func TestSnapshotsAndWindowZeroTargets(t *testing.T) {
	st := newMem()
	w := rt.New(t, st, t0, time.Minute)
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Time: t0}, 200)
	var bs []rt.Base
	for _, i := range []uint64{30, 60, 90, 120, 150} {
		bs = append(bs, w.Base(1, i))
	}
	// The newest entry is 200; a 10-minute window starts in the segment
	// holding 191.
	pl := plan(t, st, retention.Policy{Snapshots: 2, Window: 10 * time.Minute}, w.Now())
	del := deletedKeys(pl, retention.KindManifest)
	for i, b := range bs {
		if want := i < 3; del[b.Key] != want {
			t.Errorf("base at %d: deleted %v, want %v", b.Index, del[b.Key], want)
		}
	}
	execute(t, st, pl)
	rt.ManifestsComplete(t, st)
	for _, tg := range retained(w, pl, 1) {
		mustRestore(t, w, st, tg)
	}
	// The bases at 120 and 150 restore as themselves (an empty log).
	p := mustRestore(t, w, st, pitr.Target{Index: 150})
	if p.Base == nil || p.Base.Index != 150 || p.Entries() != 0 {
		t.Fatalf("restore of 150: %+v", p)
	}
	for _, i := range []uint64{29, 30, 60, 90, 119} {
		restoreFailsClearly(t, w, st, pitr.Target{Index: i})
	}
}

func segmentHolding(t *testing.T, w *rt.World, tl uint32, idx uint64) segments.SegmentName {
	t.Helper()
	for _, n := range w.Seg[tl] {
		if n.First <= idx && idx <= n.Last {
			return n
		}
	}
	t.Fatalf("no segment of timeline %d holds %d", tl, idx)
	return segments.SegmentName{}
}

func chunksOf(t *testing.T, st backends.Store, key string) map[string]bool {
	t.Helper()
	m, err := snapshot.Load(context.Background(), st, key)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range m.ChunkRefs() { // an encrypted manifest's clear list
		out[segments.ChunkKey(d)] = true
	}
	return out
}

func putChunk(t *testing.T, st backends.Store, raw []byte) string {
	t.Helper()
	obj, err := segments.EncodeChunk(nil, raw, segments.CodecNone)
	if err != nil {
		t.Fatal(err)
	}
	key := segments.ChunkKey(segments.DigestOf(raw))
	if err := st.Put(context.Background(), key, bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	return key
}

var _ = errors.Is
var _ = fmt.Sprint
