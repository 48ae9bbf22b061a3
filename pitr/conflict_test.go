package pitr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// shipAs stores es as segments of n entries each, as one agent would, and
// returns their keys.
func shipAs(t *testing.T, st backends.Store, es []segments.Entry, n int) []string {
	t.Helper()
	var keys []string
	for len(es) > 0 {
		k := min(n, len(es))
		keys = append(keys, putSegment(t, st, 1, wal.FormatBinary, segments.CodecZstd, es[:k]))
		es = es[k:]
	}
	return keys
}

// twoAgents is the measured defect: agent A ships log A's entries 1..50,
// agent B ships log B's 1..80 to the same prefix; both call it timeline 1.
// Log B agrees with log A up to agreeUpTo (0: from the first entry on).
func twoAgents(t *testing.T, st backends.Store, agreeUpTo uint64) (keysA, keysB []string) {
	t.Helper()
	putTimeline(t, st, segments.Timeline{ID: 1, StartIndex: 1})
	fa := newFixture(t, st, wal.FormatBinary, 1)
	fb := newFixture(t, st, wal.FormatBinary, 2)
	a := fa.entries(1, 50)
	b := fb.entries(1, 80)
	for i := range b {
		if b[i].Index <= agreeUpTo {
			b[i].Data = a[i].Data
		}
	}
	return shipAs(t, st, a, 10), shipAs(t, st, b, 16)
}

func TestVerifyConflictingAgents(t *testing.T) {
	for sname, mk := range stores(t) {
		for _, agree := range []uint64{0, 36} {
			t.Run(fmt.Sprintf("%s/agree=%d", sname, agree), func(t *testing.T) {
				st := mk(t)
				keysA, _ := twoAgents(t, st, agree)
				r, err := Verify(context.Background(), st)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK() {
					t.Fatalf("verify says OK for two different logs on one timeline: %+v", r)
				}
				if len(r.Damaged) != 0 || len(r.Gaps) != 0 {
					t.Fatalf("damage %v, gaps %v: want only conflicts", r.Damaged, r.Gaps)
				}
				if len(r.Conflicts) == 0 {
					t.Fatal("no conflict reported")
				}
				first := r.Conflicts[0]
				for _, c := range r.Conflicts {
					if c.Index < first.Index {
						first = c
					}
				}
				if first.Index != agree+1 || first.Timeline != 1 {
					t.Fatalf("first conflict %+v, want index %d on timeline 1", first, agree+1)
				}
				// Every conflict names one segment of each agent.
				for _, c := range r.Conflicts {
					inA := func(k string) bool { return contains(keysA, k) }
					if inA(c.A) == inA(c.B) {
						t.Fatalf("conflict %+v does not pair an A segment with a B segment", c)
					}
				}
				var b strings.Builder
				r.Describe(&b)
				out := b.String()
				if !strings.Contains(out, "CONFLICT") || !strings.Contains(out, first.A) || !strings.Contains(out, first.B) ||
					!strings.Contains(out, fmt.Sprint(first.Index)) || strings.Contains(out, "OK:") {
					t.Fatalf("report does not name the conflict:\n%s", out)
				}
			})
		}
	}
}

func contains(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

func TestRestoreRefusesConflict(t *testing.T) {
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			st := mk(t)
			twoAgents(t, st, 36)
			for _, tg := range []Target{{}, {Index: 40}, {Index: 37}} {
				_, _, _, err := restoreAndRead(t, st, tg, wal.FormatBinary, Options{})
				if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("restore %s: %v, want ErrConflict", tg, err)
				}
				for _, want := range []string{"segments/00000001/", "entry 37 differs", "refuses to guess"} {
					if !strings.Contains(err.Error(), want) {
						t.Fatalf("restore %s: error %q does not mention %q", tg, err, want)
					}
				}
			}
			// Up to the last agreeing entry both copies say the same: that
			// restore is no guess.
			p, _, got, err := restoreAndRead(t, st, Target{Index: 36}, wal.FormatBinary, Options{})
			if err != nil {
				t.Fatalf("restore to index 36, where the logs still agree: %v", err)
			}
			if len(got) != 36 || p.To != 36 {
				t.Fatalf("restored %d entries to %d, want 36", len(got), p.To)
			}
		})
	}
}

// TestIdenticalOverlapRestores: an agent that re-seals after a crash
// writes the same entries again (with newer observed times) in segments
// that overlap the ones already shipped. That is no conflict, and the
// restore is exact.
func TestIdenticalOverlapRestores(t *testing.T) {
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			st := mk(t)
			f := newFixture(t, st, wal.FormatBinary, 3)
			putTimeline(t, st, segments.Timeline{ID: 1, StartIndex: 1})
			es := f.entries(1, 120)
			shipAs(t, st, es[:60], 20) // 1..20, 21..40, 41..60
			again := make([]segments.Entry, 60)
			copy(again, es[30:90]) // 31..90 re-sealed, newer times
			for i := range again {
				again[i].Time += 1e9
			}
			shipAs(t, st, again, 30)   // 31..60, 61..90
			shipAs(t, st, es[85:], 35) // 86..120
			r, err := Verify(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || len(r.Conflicts) != 0 {
				t.Fatalf("identical overlap reported: conflicts %v damage %v gaps %v", r.Conflicts, r.Damaged, r.Gaps)
			}
			_, _, got, err := restoreAndRead(t, st, Target{}, wal.FormatBinary, Options{})
			if err != nil {
				t.Fatalf("restore over identical overlaps: %v", err)
			}
			sameEntries(t, got, es)
		})
	}
}

func TestOverlaps(t *testing.T) {
	seg := func(first, last uint64) SegmentInfo {
		return SegmentInfo{Name: segments.SegmentName{Timeline: 1, First: first, Last: last}}
	}
	segs := []SegmentInfo{seg(1, 10), seg(1, 16), seg(11, 20), seg(17, 32), seg(40, 50)}
	got := fmt.Sprint(overlaps(segSlice(segs), 1, 100))
	want := fmt.Sprint([]overlap{{0, 1, 1, 10}, {1, 2, 11, 16}, {2, 3, 17, 20}})
	if got != want {
		t.Fatalf("overlaps = %s, want %s", got, want)
	}
	if got := overlaps(segSlice(segs), 21, 100); len(got) != 0 {
		t.Fatalf("overlaps from 21 = %v, want none", got)
	}
	if got := fmt.Sprint(overlaps(segSlice(segs), 12, 18)); got != fmt.Sprint([]overlap{{1, 2, 12, 16}, {2, 3, 17, 18}}) {
		t.Fatalf("overlaps in 12..18 = %s", got)
	}
}
