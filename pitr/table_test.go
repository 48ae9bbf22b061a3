package pitr

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/walship/walship/internal/spill"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// TestMain makes every plan of this package's tests keep two segments in
// memory and the rest in its file, read three at a time: each restore,
// verify and estimate test takes both ways and the block edges.
func TestMain(m *testing.M) {
	spill.After, spill.Block = 2, 3
	os.Exit(m.Run())
}

func plannedAt(i int) PlannedSegment {
	n := uint64(i)*10 + 1
	return PlannedSegment{Name: segments.SegmentName{First: n, Last: n + 9, MaxTime: int64(i) * 1e9, Timeline: uint32(i%3 + 1), Gen: uint32(i % 2)},
		Size: int64(1000 + i), Timeline: uint32(i%3 + 1), From: n + uint64(i%4), To: n + 9, regen: i%5 == 0}
}

// TestTable: records come back as appended, from memory and from the
// file, in any order and from several goroutines at once; the file is
// never seen in the temporary directory.
func TestTable(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, c := range []struct{ spill, block, n int }{{2, 3, 0}, {2, 3, 1}, {2, 3, 2}, {2, 3, 3}, {2, 3, 100}, {0, 1, 50}, {8192, 1024, 3000}, {10, 1024, 5000}} {
		spill.After, spill.Block = c.spill, c.block
		var s PlannedSegments
		for i := range c.n {
			s.add(plannedAt(i))
			if i%7 == 0 { // reads between appends see what is not yet written
				if got := s.At(i); got != plannedAt(i) {
					t.Fatalf("%+v: record %d read back at once: %+v", c, i, got)
				}
			}
		}
		if s.Len() != c.n {
			t.Fatalf("%+v: %d records", c, s.Len())
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
			t.Fatalf("%+v: the table's file is visible: %v", c, left)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(g), 1))
				for range min(2*c.n, 200) {
					i := r.IntN(c.n)
					if got := s.At(i); got != plannedAt(i) {
						t.Errorf("%+v: record %d: %+v, want %+v", c, i, got, plannedAt(i))
						return
					}
				}
			})
		}
		wg.Wait()
		for i, ps := range s.All() {
			if ps != plannedAt(i) {
				t.Fatalf("%+v: in order, record %d: %+v", c, i, ps)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if s.t == nil { // nothing was appended: no table
			continue
		}
		s.t.Release()
		if !errors.Is(s.Err(), spill.ErrReleased) {
			t.Fatalf("%+v: after release: %v", c, s.Err())
		}
	}
	spill.After, spill.Block = 2, 3
}

// TestTableFileError: a table whose file cannot be made says so in Err,
// and a plan that needs one fails with that error rather than a plan
// missing segments.
func TestTableFileError(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	var s PlannedSegments
	for i := range 5 {
		s.add(plannedAt(i))
	}
	if s.Err() == nil || s.Len() != 5 {
		t.Fatalf("no error with the temporary directory missing: %v, %d records", s.Err(), s.Len())
	}
	if got := s.At(4); got != (PlannedSegment{}) {
		t.Fatalf("record past the failure: %+v", got)
	}
	f := newFixture(t, newMem(), wal.FormatBinary, 41)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 200)
	if p, err := MakePlan(t.Context(), f.st, Target{}); err == nil {
		t.Fatalf("planned %d segments without a temporary directory", p.Segments.Len())
	}
}
