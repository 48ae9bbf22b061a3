package pitr

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// A segment the plan listed is rewritten as a new generation and the old
// one deleted before the restore fetches it (what walship migrate does):
// the restore takes the new generation and is exact. With no other
// generation left, it is refused, naming the segment.
func TestRestoreTakesAnotherGeneration(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 5)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
	p, err := MakePlan(ctx, f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, p.Segments.Len() / 2} {
		ps := p.Segments.At(i)
		rc, err := f.st.Get(ctx, ps.Key(), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		next := ps.Name
		next.Gen = 2
		put(t, f.st, next.Key(), b)
		if err := f.st.Delete(ctx, ps.Key()); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	res, err := Execute(ctx, f.st, p, out, Options{})
	if err != nil {
		t.Fatalf("restore after a planned segment's generation was replaced: %v", err)
	}
	want, _ := f.expect(1, f.latest(1))
	sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, DefaultSegmentSize), want)

	p, err = MakePlan(ctx, f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	gone := p.Segments.At(p.Segments.Len() - 1)
	if err := f.st.Delete(ctx, gone.Key()); err != nil {
		t.Fatal(err)
	}
	_, err = Execute(ctx, f.st, p, filepath.Join(t.TempDir(), "out"), Options{})
	if err == nil || !strings.Contains(err.Error(), gone.Key()) || !strings.Contains(err.Error(), "listed but is gone") {
		t.Fatalf("restore with a planned segment gone and no other generation: %v", err)
	}
}

// migrateOnGet returns an onGet hook that, at the first Get of key, does
// what a migration does (stores the segment as generation 2, deletes key)
// before the Get reaches the store: the reader meets a segment gone since
// it was listed.
func migrateOnGet(t *testing.T, st backends.Store, key string) func(string) error {
	var once sync.Once
	return func(k string) error {
		if k == key {
			once.Do(func() { migrate(t, st, key) })
		}
		return nil
	}
}

// migrate stores key's bytes as its generation 2 and deletes key.
func migrate(t *testing.T, st backends.Store, key string) {
	ctx := context.Background()
	name, err := segments.ParseSegmentKey(key)
	if err != nil {
		t.Error(err)
		return
	}
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		t.Error(err)
		return
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	name.Gen = 2
	if err := st.Put(ctx, name.Key(), bytes.NewReader(b), int64(len(b))); err != nil {
		t.Error(err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Error(err)
	}
}

// The reads a plan makes (the first segment's header for the log format,
// a time target's segment) take another generation of a segment migrated
// after the listing, as the fetch does.
func TestPlanReadsAnotherGeneration(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 6)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)

	first := f.keys[1][0]
	h := &hookStore{Store: f.st, onGet: migrateOnGet(t, f.st, first)}
	p, err := MakePlan(ctx, h, Target{})
	if err != nil {
		t.Fatalf("plan with its first segment migrated after the listing: %v", err)
	}
	if p.Format != wal.FormatBinary {
		t.Fatalf("plan format %v", p.Format)
	}
	if _, err := f.st.Stat(ctx, first); !backends.IsNotFound(err) {
		t.Fatalf("the plan did not read %s: %v", first, err)
	}

	mid := f.keys[1][len(f.keys[1])/2]
	name, _ := segments.ParseSegmentKey(mid)
	h = &hookStore{Store: f.st, onGet: migrateOnGet(t, f.st, mid)}
	es := f.lineage(1, name.Last)
	at := es[len(es)-1].Time - 1
	p, err = MakePlan(ctx, h, Target{Time: timeOf(at)})
	if err != nil {
		t.Fatalf("time target in a segment migrated after the listing: %v", err)
	}
	if _, err := f.st.Stat(ctx, mid); !backends.IsNotFound(err) {
		t.Fatalf("the plan did not read %s: %v", mid, err)
	}
	res, err := Execute(ctx, f.st, p, filepath.Join(t.TempDir(), "out"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.expectTime(1, at)
	sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, DefaultSegmentSize), want)
}

// Verify meets segments gone since its listing: one a compaction output
// listed beside it holds (deleted as compaction deletes its inputs), before
// or after it in key order, and one migrated to a new generation. Neither is damage; a segment gone with
// nothing holding its entries is.
func TestVerifySegmentsReplacedWhileRunning(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 7)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 400)
	keys := f.keys[1]
	if len(keys) < 6 {
		t.Fatalf("only %d segments", len(keys))
	}
	// A container of segments 0..2 (as compaction writes it), beside them:
	// segment 0 sorts before it (same first entry), segment 1 after it.
	a, _ := segments.ParseSegmentKey(keys[0])
	b, _ := segments.ParseSegmentKey(keys[2])
	putSegment(t, f.st, 1, wal.FormatBinary, segments.CodecZstd, f.own[1][a.First-1:b.Last])
	migrated := keys[4]
	hooks := map[string]func(){
		keys[0]:  func() { f.st.Delete(ctx, keys[0]) },
		keys[1]:  func() { f.st.Delete(ctx, keys[1]) },
		migrated: func() { migrate(t, f.st, migrated) },
	}
	var mu sync.Mutex
	h := &hookStore{Store: f.st, onGet: func(k string) error {
		mu.Lock()
		fn := hooks[k]
		delete(hooks, k)
		mu.Unlock()
		if fn != nil {
			fn()
		}
		return nil
	}}
	r, err := Verify(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Replaced != 3 || r.Entries < 400 {
		t.Fatalf("verify with segments replaced while it ran: ok %v, replaced %d, entries %d, damaged %v, gaps %v", r.OK(), r.Replaced, r.Entries, r.Damaged, r.Gaps)
	}
	var out strings.Builder
	r.Describe(&out)
	if !strings.Contains(out.String(), "3 segment(s) were compacted or migrated while verify ran") {
		t.Fatalf("report does not say so:\n%s", out.String())
	}

	gone := keys[len(keys)-2]
	h = &hookStore{Store: f.st, onGet: func(k string) error {
		if k == gone {
			f.st.Delete(ctx, gone)
		}
		return nil
	}}
	r, err = Verify(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || len(r.Damaged) != 1 || r.Damaged[0].Key != gone || !strings.Contains(r.Damaged[0].Problem, "listed but gone") {
		t.Fatalf("verify with a segment gone and nothing holding it: ok %v, damaged %v", r.OK(), r.Damaged)
	}
}

// Copy meets a source segment migrated after its listing: the gone key is
// counted, a second pass copies its new generation, and the destination
// restores exactly.
func TestCopySegmentReplacedWhileRunning(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 8)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
	key := f.keys[1][3]
	h := &hookStore{Store: f.st, onGet: migrateOnGet(t, f.st, key)}
	dst := newMem()
	st, err := Copy(ctx, h, dst, 2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Replaced != 1 || len(st.Skipped) != 0 {
		t.Fatalf("copy: replaced %d, skipped %v", st.Replaced, st.Skipped)
	}
	p, err := MakePlan(ctx, dst, Target{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Execute(ctx, dst, p, filepath.Join(t.TempDir(), "out"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.expect(1, f.latest(1))
	sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, DefaultSegmentSize), want)
}
