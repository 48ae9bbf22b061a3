package retention_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// TestRefusesWhatItCannotRead: a timeline record, manifest or point that
// does not decode, or a pinned point on a timeline the store has no record
// of, stops the plan: prune never guesses what something protects.
func TestRefusesWhatItCannotRead(t *testing.T) {
	pol := retention.Policy{Snapshots: 1, Window: time.Hour}
	for _, c := range []struct {
		name string
		harm func(t *testing.T, st *mem.Store, l *linear)
		want error
		msg  string
	}{
		{"timeline record", func(t *testing.T, st *mem.Store, l *linear) {
			if err := st.Corrupt(segments.TimelineKey(1), 30); err != nil {
				t.Fatal(err)
			}
		}, retention.ErrUnreadable, "timeline record timelines/00000001.json"},
		{"manifest", func(t *testing.T, st *mem.Store, l *linear) {
			if err := st.Corrupt(l.bases[20].Key, 40); err != nil {
				t.Fatal(err)
			}
		}, retention.ErrUnreadable, l20},
		{"point", func(t *testing.T, st *mem.Store, l *linear) {
			if err := st.Corrupt(segments.PointKey("loose-40"), 40); err != nil {
				t.Fatal(err)
			}
		}, retention.ErrUnreadable, "points/loose-40.json"},
		{"pinned point on an unknown timeline", func(t *testing.T, st *mem.Store, l *linear) {
			b, err := segments.EncodePoint(segments.Point{Name: "elsewhere", Timeline: 7, Index: 5, Pinned: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Put(context.Background(), segments.PointKey("elsewhere"), strings.NewReader(string(b)), int64(len(b))); err != nil {
				t.Fatal(err)
			}
		}, retention.ErrBrokenHistory, `pinned restore point "elsewhere"`},
		{"broken parent chain", func(t *testing.T, st *mem.Store, l *linear) {
			l.w.Timeline(segments.Timeline{ID: 3, Parent: 2, ForkIndex: 250, StartIndex: 251}, 3)
		}, retention.ErrBrokenHistory, "names parent 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := mem.New()
			l := newLinear(t, st)
			c.harm(t, st, l)
			before := rt.Keys(t, st)
			msg := c.msg
			if msg == l20 {
				msg = l.bases[20].Key
			}
			_, err := retention.Plan(context.Background(), st, pol, l.w.Now())
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), msg) {
				t.Fatalf("err %v, want %v naming %s", err, c.want, msg)
			}
			if _, err := retention.Prune(context.Background(), st, pol, l.w.Now(), nil); err == nil {
				t.Fatal("Prune went ahead")
			}
			if !maps.Equal(before, rt.Keys(t, st)) {
				t.Fatal("the store changed")
			}
		})
	}
}

const l20 = "<the base at 20>"

// TestSeveralStores: a union of stores is refused; each store is pruned by
// what it holds itself.
func TestSeveralStores(t *testing.T) {
	a, b := mem.New(), mem.New()
	la := newLinear(t, a)
	// b lags: it holds the first 200 entries and the bases up to 120.
	wb := rt.New(t, b, t0, time.Minute)
	wb.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "test", Time: t0}, 200)
	for _, i := range []uint64{20, 50, 120} {
		wb.Base(1, i)
	}
	_, err := retention.Plan(context.Background(), multi.New(multi.Member{Name: "a", Store: a}, multi.Member{Name: "b", Store: b}), retention.Policy{}, la.w.Now())
	if err == nil || !strings.Contains(err.Error(), "prune each store on its own") {
		t.Fatalf("union: %v", err)
	}
	pol := retention.Policy{Snapshots: 1, Window: 2 * time.Hour}
	now := la.w.Now()
	for _, c := range []struct {
		st backends.Store
		w  *rt.World
	}{{a, la.w}, {b, wb}} {
		pl := plan(t, c.st, pol, now)
		execute(t, c.st, pl)
		rt.ManifestsComplete(t, c.st)
		for _, tg := range retained(c.w, pl, 5) {
			mustRestore(t, c.w, c.st, tg)
		}
	}
	// b's window ends at b's latest entry, 200.
	plb := plan(t, b, pol, now)
	if win := plb.Targets[0]; win.From >= 181 || win.To != 200 || win.BaseIndex != 120 {
		t.Fatalf("b's window %+v", win)
	}
	// With a window past everything b holds, every time in it is b's
	// latest entry.
	plb = plan(t, b, retention.Policy{Snapshots: 1, Window: 30 * time.Minute}, now)
	if win := plb.Targets[0]; win.From != 200 || win.To != 200 || win.BaseIndex != 120 {
		t.Fatalf("b's window %+v", win)
	}
}

// TestDamagedBase: when the base a window starts from lacks a chunk, a
// restore passes it over for the next older one; prune keeps both.
func TestDamagedBase(t *testing.T) {
	st := mem.New()
	w := rt.New(t, st, t0, time.Minute)
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Time: t0}, 200)
	b40, b80, b120 := w.Base(1, 40), w.Base(1, 80), w.Base(1, 120)
	// The digest file's chunk is the base's own.
	m := chunksOfFile(t, st, b120.Key, "digest")
	if err := st.Delete(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 70 * time.Minute}, w.Now())
	del := deletedKeys(pl, retention.KindManifest)
	if len(del) != 1 || !del[b40.Key] || pl.Targets[0].BaseIndex != 80 {
		t.Fatalf("deletes %v; window %+v", del, pl.Targets[0])
	}
	var b strings.Builder
	pl.Describe(&b)
	if !strings.Contains(b.String(), "cannot be restored") {
		t.Fatalf("no note on the damaged base:\n%s", b.String())
	}
	execute(t, st, pl)
	for _, tg := range retained(w, pl, 3) {
		p := mustRestore(t, w, st, tg)
		if tg.Index < 130 && p.Base != nil && p.Base.Key != b80.Key {
			t.Fatalf("%s restored from %s", tg, p.Base.Key)
		}
	}
}

func chunksOfFile(t *testing.T, st backends.Store, key, path string) string {
	t.Helper()
	m, err := snapshot.Load(context.Background(), st, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if f.Path == path {
			return segments.ChunkKey(f.Chunks[0])
		}
	}
	t.Fatalf("%s has no file %s", key, path)
	return ""
}

// spyStore records List prefixes, the keys each listing handed over, and
// Get keys.
type spyStore struct {
	backends.Store
	mu     sync.Mutex
	lists  []string
	listed map[string][]string // prefix -> keys handed to fn
	gets   []string
}

func (s *spyStore) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	s.mu.Lock()
	s.lists = append(s.lists, prefix)
	s.mu.Unlock()
	return s.Store.List(ctx, prefix, after, func(oi backends.ObjectInfo) error {
		s.mu.Lock()
		if s.listed == nil {
			s.listed = map[string][]string{}
		}
		s.listed[prefix] = append(s.listed[prefix], oi.Key)
		s.mu.Unlock()
		return fn(oi)
	})
}

func (s *spyStore) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.mu.Lock()
	s.gets = append(s.gets, key)
	s.mu.Unlock()
	return s.Store.Get(ctx, key, off, n)
}

// TestPlanReadsOnlyRecords: one listing per prefix, and a second of each
// timeline's segments that stops after the first it keeps for good; only
// manifests, timeline records, points and markers are read, never a
// segment or chunk.
func TestPlanReadsOnlyRecords(t *testing.T) {
	st := mem.New()
	f := newForks(t, st, 0)
	f.w.Point("p", 4, 150, true)
	putMarker(t, st, "00000000000000c1", f.w.Now().Add(-48*time.Hour))
	spy := &spyStore{Store: st}
	pl := plan(t, spy, retention.Policy{Snapshots: 2, Window: time.Hour}, f.w.Now())
	var top, perTimeline []string
	for _, p := range spy.lists {
		if strings.HasPrefix(p, segments.SegmentsPrefix) && p != segments.SegmentsPrefix {
			perTimeline = append(perTimeline, p)
		} else {
			top = append(top, p)
		}
	}
	slices.Sort(top)
	if want := []string{segments.ChunksPrefix, segments.PointsPrefix, segments.SegmentsPrefix, segments.SnapshotsPrefix, segments.TimelinesPrefix}; !slices.Equal(top, want) {
		t.Fatalf("listings %v, want %v", top, want)
	}
	// The second listing hands over what the plan deletes and, per
	// timeline, at most the segment straddling the cut and the one after.
	deleted := map[string]bool{}
	for d := range pl.Segments.All() {
		deleted[d.Key] = true
	}
	kept, again := 0, 0
	for _, p := range perTimeline {
		for _, k := range spy.listed[p] {
			again++
			if !deleted[k] {
				kept++
			}
		}
	}
	all := len(spy.listed[segments.SegmentsPrefix])
	if pl.Segments.Len() == 0 || pl.Segments.Len() == all || kept > 2*len(perTimeline) || again >= all {
		t.Fatalf("%d of %d segments deleted; the second listings (%v) handed over %d keys, %d of them kept", pl.Segments.Len(), all, perTimeline, again, kept)
	}
	t.Logf("%d of %d segments deleted; the second listings (%d timelines) handed over %d keys, %d of them kept", pl.Segments.Len(), all, len(perTimeline), again, kept)
	for _, k := range spy.gets {
		if strings.HasPrefix(k, segments.SegmentsPrefix) || strings.HasPrefix(k, segments.ChunksPrefix) {
			t.Fatalf("plan read %s", k)
		}
	}
	if len(spy.gets) != 4+6+1+1 { // records, manifests, the point, the marker
		t.Fatalf("plan read %d objects: %v", len(spy.gets), spy.gets)
	}
}
