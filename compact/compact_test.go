package compact_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/compact"
	"github.com/walship/walship/pitr"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// world is two timelines of entries 5 s apart, shipped as segments of 1 to
// 13 entries, beginning at the top of the hour four hours ago: about 400
// segments over four hour windows, timeline 2 forking from timeline 1 at
// 1,500. The last entries fall in the hour that ended at least two merge
// delays ago, so every window has closed by the first pass whatever the
// minute the test runs at (in the first minute of an hour the last window
// was still open, and the pass after the grace merged it: a flaky test).
func world(t *testing.T, st backends.Store) *rt.World {
	t0 := time.Now().Add(-4*time.Hour - 2*compact.DefaultDelay).Truncate(time.Hour)
	w := rt.New(t, st, t0, 5*time.Second)
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "test", Time: t0}, 2000)
	w.Timeline(segments.Timeline{ID: 2, Parent: 1, ForkIndex: 1500, StartIndex: 1501, Reason: "test", Time: t0}, 800)
	return w
}

// targets are the restores checked after every step: the latest of each
// timeline, indexes and times along both.
func targets(w *rt.World) []pitr.Target {
	tgs := []pitr.Target{{Latest: true}, {Latest: true, Timeline: 1}}
	r := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		tgs = append(tgs, pitr.Target{Index: 1 + r.Uint64N(2000), Timeline: 1})
		tgs = append(tgs, pitr.Target{Index: 1501 + r.Uint64N(800), Timeline: 2})
		tgs = append(tgs, pitr.Target{Time: w.EntryTime(1, 1+r.Uint64N(2000)).Add(time.Second), Timeline: 1})
	}
	return tgs
}

// check restores every target and compares it entry by entry with the
// model, and runs verify: the store must be exact in any state.
func check(t *testing.T, w *rt.World, st backends.Store, what string) {
	t.Helper()
	ctx := context.Background()
	for _, tg := range targets(w) {
		if _, err := w.Restore(ctx, st, tg); err != nil {
			t.Fatalf("%s: restore %s: %v", what, tg, err)
		}
	}
	rep, err := pitr.Verify(ctx, st)
	if err != nil {
		t.Fatalf("%s: verify: %v", what, err)
	}
	if !rep.OK() {
		var b strings.Builder
		rep.Describe(&b)
		t.Fatalf("%s: verify found problems:\n%s", what, b.String())
	}
}

func segmentCount(t *testing.T, st backends.Store) map[uint32]int {
	t.Helper()
	n := map[uint32]int{}
	err := st.List(context.Background(), segments.SegmentsPrefix, "", func(oi backends.ObjectInfo) error {
		if name, err := segments.ParseSegmentKey(oi.Key); err == nil {
			n[name.Timeline]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// clock is a settable offset from the real clock (the store stamps
// ModTime with the real one).
type clock struct{ off time.Duration }

func (c *clock) now() time.Time { return time.Now().Add(c.off) }

func opts(t *testing.T, c *clock) compact.Options {
	return compact.Options{Codec: segments.CodecZstd, TempDir: t.TempDir(), Now: c.now}
}

func TestCompactionKeepsEveryRestoreExact(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	w := world(t, st)
	before := segmentCount(t, st)
	check(t, w, st, "before")

	c := &clock{}
	res, err := compact.Pass(ctx, st, opts(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs == 0 || res.Deleted != 0 || res.Waiting != res.Merged || len(res.Pending) == 0 {
		t.Fatalf("first pass: %+v, want outputs stored, nothing deleted yet, work pending", res)
	}
	check(t, w, st, "outputs beside their inputs")

	// Within the grace period the inputs stay.
	res, err = compact.Pass(ctx, st, opts(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 0 || res.Waiting == 0 {
		t.Fatalf("pass within the grace: %+v, want every input kept", res)
	}
	c.off = 2 * time.Hour
	res, err = compact.Pass(ctx, st, opts(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pass after the grace: %+v", res)
	if res.Deleted == 0 || res.Waiting != 0 || len(res.Conflicts) != 0 {
		t.Fatalf("pass after the grace: %+v, want the inputs deleted", res)
	}
	after := segmentCount(t, st)
	t.Logf("segments before %v, after %v", before, after)
	// Five hour windows at most per timeline, plus windows cut by the fork.
	for tl, n := range after {
		if n > 6 {
			t.Errorf("timeline %d: %d segments after compaction (%d before), want one per hour", tl, n, before[tl])
		}
	}
	check(t, w, st, "compacted")

	res, err = compact.Pass(ctx, st, opts(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs != 0 || res.Deleted != 0 || len(res.Pending) != 0 {
		t.Fatalf("pass with nothing to do: %+v", res)
	}
}

// failing fails every Put and Delete after the first left ones: a
// compactor killed at that point.
type failing struct {
	backends.Store
	mu   sync.Mutex
	left int
}

var errKilled = errors.New("injected: compaction killed here")

func (f *failing) spend() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left--
	return f.left >= 0
}

func (f *failing) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if !f.spend() {
		return errKilled
	}
	return f.Store.Put(ctx, key, r, size)
}

func (f *failing) Delete(ctx context.Context, key string) error {
	if !f.spend() {
		return errKilled
	}
	return f.Store.Delete(ctx, key)
}

// settle runs passes until one has nothing to do.
func settle(t *testing.T, st backends.Store, c *clock) {
	t.Helper()
	for range 5 {
		res, err := compact.Pass(context.Background(), st, opts(t, c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outputs == 0 && res.Deleted == 0 {
			return
		}
	}
	t.Fatal("compaction did not settle in 5 passes")
}

// A pass stopped after any number of writes or deletes leaves a store that
// restores exactly and verifies clean, and the next pass finishes the work
// to the same objects as an uninterrupted one.
func TestCompactionInterruptedAnywhere(t *testing.T) {
	ctx := context.Background()
	base := mem.New()
	w := world(t, base)
	want := rt.Clone(t, base)
	c := &clock{}
	if _, err := compact.Pass(ctx, want, opts(t, c), nil); err != nil {
		t.Fatal(err)
	}
	c.off = 2 * time.Hour
	settle(t, want, c)
	wantKeys := rt.Keys(t, want)
	for _, n := range []int{0, 1, 4, 17, 60, 300} {
		t.Run(fmt.Sprint("after ", n), func(t *testing.T) {
			st := rt.Clone(t, base)
			c := &clock{}
			var killed bool
			for _, off := range []time.Duration{0, 2 * time.Hour} {
				c.off = off
				_, err := compact.Pass(ctx, &failing{Store: st, left: n}, opts(t, c), nil)
				if errors.Is(err, errKilled) {
					killed = true
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			check(t, w, st, "interrupted")
			if !killed {
				return
			}
			c.off = 2 * time.Hour
			settle(t, st, c)
			check(t, w, st, "finished")
			if got := rt.Keys(t, st); fmt.Sprint(rt.SortedKeys(got)) != fmt.Sprint(rt.SortedKeys(wantKeys)) {
				t.Fatalf("after the interrupted pass was finished the store holds %d keys, an uninterrupted one %d", len(got), len(wantKeys))
			}
		})
	}
}

// Keys under segments/ that are not walship's, and everything outside it,
// are never read, changed or deleted; a contained segment whose entries
// differ from its container's is reported and kept.
func TestCompactionTouchesOnlyWhatItProves(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	w := world(t, st)
	foreign := map[string]string{
		"segments/readme.txt":              "not a segment",
		"segments/00000001/not-a-key.wseg": "nor this",
		"segments/0000000A/00000000000000000001-00000000000000000002-00000000000000000000.wseg": "not canonical",
		"other/thing": "outside",
	}
	for k, v := range foreign {
		if err := st.Put(ctx, k, strings.NewReader(v), int64(len(v))); err != nil {
			t.Fatal(err)
		}
	}
	// A segment holding entries 12..14 of timeline 1 (inside the world's
	// segment 11..21) with other data: two logs shipped to one prefix.
	// Verify reports it; compaction keeps it.
	es := []segments.Entry{{Index: 12, Time: w.EntryTime(1, 12).UnixNano(), Data: []byte("other")},
		{Index: 13, Time: w.EntryTime(1, 13).UnixNano(), Data: rt.Data(1, 13)},
		{Index: 14, Time: w.EntryTime(1, 14).UnixNano(), Data: rt.Data(1, 14)}}
	odd := putSegment(t, st, 1, es)
	c := &clock{}
	if _, err := compact.Pass(ctx, st, opts(t, c), nil); err != nil {
		t.Fatal(err)
	}
	c.off = 2 * time.Hour
	res, err := compact.Pass(ctx, st, opts(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Conflicts) != 1 || !strings.Contains(res.Conflicts[0], odd) {
		t.Fatalf("conflicts %v, want the odd segment %s named", res.Conflicts, odd)
	}
	keys := rt.Keys(t, st)
	for k := range foreign {
		if _, ok := keys[k]; !ok {
			t.Errorf("compaction deleted %s, which walship did not write", k)
		}
	}
	if _, ok := keys[odd]; !ok {
		t.Errorf("compaction deleted %s, whose entries differ from the segment that holds their range", odd)
	}
}

// putSegment stores a segment of es and returns its key.
func putSegment(t *testing.T, st backends.Store, tl uint32, es []segments.Entry) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "seg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sw, err := segments.NewWriter(f, tl, 1, segments.CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := sw.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	h, err := sw.Finish()
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Seek(0, io.SeekEnd)
	f.Seek(0, io.SeekStart)
	key := segments.NameOf(h).Key()
	if err := st.Put(context.Background(), key, f, size); err != nil {
		t.Fatal(err)
	}
	return key
}

// A dry run reads nothing but the listing and changes nothing; a damaged
// input stops its run with an error naming it, and nothing is deleted.
func TestCompactionDryRunAndDamage(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	world(t, st)
	before := rt.Keys(t, st)
	o := opts(t, &clock{})
	o.DryRun = true
	res, err := compact.Pass(ctx, st, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs == 0 || res.Merged == 0 || res.BytesRead != 0 {
		t.Fatalf("dry run: %+v, want merges planned and nothing read", res)
	}
	if got := rt.Keys(t, st); len(got) != len(before) {
		t.Fatalf("dry run changed the store: %d keys, %d before", len(got), len(before))
	}
	var victim string
	for k := range before {
		if strings.HasPrefix(k, segments.TimelinePrefix(1)) {
			victim = k
			break
		}
	}
	st.Corrupt(victim, 30)
	_, err = compact.Pass(ctx, st, opts(t, &clock{}), nil)
	if err == nil || !strings.Contains(err.Error(), victim) {
		t.Fatalf("pass over a damaged segment: %v, want an error naming %s", err, victim)
	}
	if _, ok := rt.Keys(t, st)[victim]; !ok {
		t.Fatal("the damaged segment was deleted")
	}
}

// A pass scoped from a previous pass's Settled lists only what is new.
func TestCompactionScopeListsFromSettled(t *testing.T) {
	ctx := context.Background()
	st := &listCount{Store: mem.New()}
	w := world(t, st)
	c := &clock{off: 2 * time.Hour}
	settle(t, st, c)
	res, err := compact.Pass(ctx, st, opts(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	scope := []compact.Scope{{Timeline: 2, After: res.Settled[2]}}
	w.Append(2, 40)
	st.listed.Store(0)
	if _, err := compact.Pass(ctx, st, opts(t, c), scope); err != nil {
		t.Fatal(err)
	}
	if n := st.listed.Load(); n > 12 {
		t.Fatalf("a scoped pass listed %d objects, want only the 40 entries' new segments", n)
	}
	check(t, w, st.Store, "after a scoped pass")
}

// listCount counts the objects listings return.
type listCount struct {
	backends.Store
	listed atomic.Int64
}

func (l *listCount) List(ctx context.Context, p, a string, fn func(backends.ObjectInfo) error) error {
	return l.Store.List(ctx, p, a, func(oi backends.ObjectInfo) error {
		l.listed.Add(1)
		return fn(oi)
	})
}

// vanishing deletes the named key just before it is first read: a prune
// that ran between compaction's listing and its merge.
type vanishing struct {
	backends.Store
	key  string
	done atomic.Bool
}

func (v *vanishing) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if key == v.key && v.done.CompareAndSwap(false, true) {
		if err := v.Store.Delete(ctx, key); err != nil {
			return nil, err
		}
	}
	return v.Store.Get(ctx, key, off, n)
}

// A segment deleted under a pass (by a prune) is not a failure: its run
// waits for the next pass, which lists again.
func TestCompactionInputGone(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	world(t, st)
	var victim string
	for k := range rt.Keys(t, st) {
		if strings.HasPrefix(k, segments.TimelinePrefix(1)) && (victim == "" || k < victim) {
			victim = k
		}
	}
	res, err := compact.Pass(ctx, &vanishing{Store: st, key: victim}, opts(t, &clock{}), nil)
	if err != nil {
		t.Fatalf("pass with an input deleted under it: %v", err)
	}
	if len(res.Pending) == 0 || res.Outputs == 0 {
		t.Fatalf("pass: %+v, want the other runs merged and work left", res)
	}
}

// A pass that lists a few segments at a time (memory bounded by the batch)
// leaves the same store as one that lists everything, when a batch holds
// an hour; with smaller batches an hour is merged in parts, and every
// restore stays exact either way.
func TestCompactionInBatches(t *testing.T) {
	base := mem.New()
	w := world(t, base)
	whole := rt.Clone(t, base)
	settleWith(t, whole, 0)
	for _, batch := range []int{150, 37} {
		st := rt.Clone(t, base)
		settleWith(t, st, batch)
		check(t, w, st, fmt.Sprint("batches of ", batch))
		same := fmt.Sprint(rt.SortedKeys(rt.Keys(t, st))) == fmt.Sprint(rt.SortedKeys(rt.Keys(t, whole)))
		if batch == 150 && !same {
			t.Fatalf("batches of %d left other objects than one listing", batch)
		}
	}
}

// settleWith compacts st to the end with the given listing batch.
func settleWith(t *testing.T, st backends.Store, batch int) {
	t.Helper()
	c := &clock{}
	for range 6 {
		o := opts(t, c)
		o.ListBatch = batch
		res, err := compact.Pass(context.Background(), st, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.off = 2 * time.Hour
		if res.Outputs == 0 && res.Deleted == 0 && len(res.Pending) == 0 {
			return
		}
	}
	t.Fatal("compaction did not settle in 6 passes")
}
