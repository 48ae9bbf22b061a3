package pitr

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// progressRecorder is a Progress that keeps every call.
type progressRecorder struct {
	mu                   sync.Mutex
	totals               int   // Total calls
	addsBeforeTotal      int   // Add calls before the first Total
	totalObjs, totalByte int64 // what Total said
	objs, bytes          int64 // sums of Add
	adds                 int   // Add calls
}

func (r *progressRecorder) Total(objects, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.totals++
	r.totalObjs, r.totalByte = objects, bytes
}

func (r *progressRecorder) Add(objects, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.totals == 0 {
		r.addsBeforeTotal++
	}
	r.adds++
	r.objs += objects
	r.bytes += bytes
}

// check fails unless Total was said once, before any Add, and the Adds
// sum to wantObjs objects of wantBytes, which are also the totals.
func (r *progressRecorder) check(t *testing.T, wantObjs, wantBytes int64) {
	t.Helper()
	if r.totals != 1 || r.addsBeforeTotal != 0 {
		t.Fatalf("Total called %d times, %d Adds before it", r.totals, r.addsBeforeTotal)
	}
	if r.totalObjs != wantObjs || r.totalByte != wantBytes {
		t.Fatalf("Total(%d, %d), want (%d, %d)", r.totalObjs, r.totalByte, wantObjs, wantBytes)
	}
	if r.objs != wantObjs || r.bytes != wantBytes || r.adds != int(wantObjs) {
		t.Fatalf("Adds sum to %d objects, %d bytes in %d calls; want %d, %d", r.objs, r.bytes, r.adds, wantObjs, wantBytes)
	}
}

// A restore reports every segment written and every base chunk fetched,
// and its totals are the plan's.
func TestProgressRestore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 90)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 200)
	putBase(t, f.st, 1, 100, 91)
	for _, tg := range []Target{{Latest: true}, {Latest: true, NoBase: true}} {
		p, err := MakePlan(ctx, f.st, tg)
		if err != nil {
			t.Fatal(err)
		}
		chunks := 0
		if p.Base != nil {
			chunks = p.Base.Chunks
		}
		if (p.Base == nil) != tg.NoBase || p.Segments.Len() < 2 || (p.Base != nil && chunks < 2) {
			t.Fatalf("%s: fixture: %d segments, base %v", tg, p.Segments.Len(), p.Base != nil)
		}
		rec := &progressRecorder{}
		res, err := Execute(ctx, f.st, p, filepath.Join(t.TempDir(), "out"), Options{Parallel: 3, Progress: rec})
		if err != nil {
			t.Fatal(err)
		}
		if res.Bytes != p.Bytes || res.Segments != p.Segments.Len() {
			t.Fatalf("result %+v, plan %d segments of %d bytes", res, p.Segments.Len(), p.Bytes)
		}
		rec.check(t, int64(res.Segments+chunks), p.TotalBytes())
	}
}

// Verify reports every segment and chunk it reads, damaged ones too.
func TestProgressVerify(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 92)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 150)
	putBase(t, f.st, 1, 80, 93)
	flip(t, f.st, f.keys[1][1], 40)
	objs, bytes := readSizes(t, f.st)
	rec := &progressRecorder{}
	r, err := VerifyWith(ctx, f.st, VerifyOptions{Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.Chunks < 2 || r.Chunks != countKeys(t, f.st, segments.ChunksPrefix) || r.Segments != len(f.keys[1]) {
		t.Fatalf("report %+v", r)
	}
	if objs != int64(r.Segments+r.Chunks) {
		t.Fatalf("listed %d segments and chunks, report %d", objs, r.Segments+r.Chunks)
	}
	rec.check(t, objs, bytes)
}

// Copy reports every object the destination lacks, damaged ones too; a
// rerun has nothing to do.
func TestProgressCopy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 94)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 150)
	putBase(t, f.st, 1, 80, 95)
	dst := mem.New()
	rec := &progressRecorder{}
	cs, err := CopyWith(ctx, f.st, dst, CopyOptions{Parallel: 3, TmpDir: t.TempDir(), Progress: rec})
	if err != nil || len(cs.Skipped) != 0 || cs.Copied < 5 {
		t.Fatalf("copy %+v %v", cs, err)
	}
	rec.check(t, int64(cs.Copied), cs.Bytes)

	// One object lost in dst, one damaged in the source: both are
	// handled, only one copied.
	victim := f.keys[1][2]
	if err := dst.Delete(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := dst.Delete(ctx, f.keys[1][3]); err != nil {
		t.Fatal(err)
	}
	flip(t, f.st, f.keys[1][3], 40)
	rec = &progressRecorder{}
	cs, err = CopyWith(ctx, f.st, dst, CopyOptions{TmpDir: t.TempDir(), Progress: rec})
	if err != nil || cs.Copied != 1 || len(cs.Skipped) != 1 {
		t.Fatalf("repair copy %+v %v", cs, err)
	}
	size := func(key string) int64 {
		oi, err := f.st.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return oi.Size
	}
	if cs.Bytes != size(victim) {
		t.Fatalf("copied %d bytes, the lost segment has %d", cs.Bytes, size(victim))
	}
	rec.check(t, 2, size(victim)+size(f.keys[1][3]))

	rec = &progressRecorder{}
	if _, err := CopyWith(ctx, f.st, dst, CopyOptions{Progress: rec}); err != nil {
		t.Fatal(err)
	}
	rec.check(t, 1, size(f.keys[1][3])) // the damaged one, again
}

// readSizes counts the segments and chunks of st and their bytes.
func readSizes(t *testing.T, st backends.Store) (objs, bytes int64) {
	t.Helper()
	for _, prefix := range []string{segments.SegmentsPrefix, segments.ChunksPrefix} {
		err := st.List(context.Background(), prefix, "", func(oi backends.ObjectInfo) error {
			objs, bytes = objs+1, bytes+oi.Size
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return objs, bytes
}
