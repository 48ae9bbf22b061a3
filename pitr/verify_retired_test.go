package pitr

import (
	"context"
	"strings"
	"testing"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// A hole at the start of a timeline's range is what prune removes only when
// no restore through it can still begin; otherwise it is a GAP. Each case
// deletes the first segments of timeline 1 and says what verify must call
// the hole.
func TestVerifyPrefixHoles(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		want  string // "gap", "retired" or "before_base"
	}{
		{"newest timeline, no base", func(t *testing.T, f *fixture) {}, "gap"},
		{"newest timeline, base after the hole", func(t *testing.T, f *fixture) { putBase(t, f.st, 1, 90, 1) }, "before_base"},
		{"child started anew (fork 0)", func(t *testing.T, f *fixture) {
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 0, StartIndex: 150}, 20)
		}, "retired"},
		{"child shares the hole, no base", func(t *testing.T, f *fixture) {
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 60, StartIndex: 61}, 20)
		}, "gap"},
		{"child shares the hole, base on the child", func(t *testing.T, f *fixture) {
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 60, StartIndex: 61}, 20)
			putBase(t, f.st, 2, 70, 2)
		}, "retired"},
		{"child shares the hole, base on a grandchild", func(t *testing.T, f *fixture) {
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 60, StartIndex: 61}, 20)
			f.timeline(t, segments.Timeline{ID: 3, Parent: 2, ForkIndex: 70, StartIndex: 71}, 20)
			putBase(t, f.st, 3, 75, 3)
		}, "retired"},
		{"child shares the hole, base only on a grandchild that started anew", func(t *testing.T, f *fixture) {
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 60, StartIndex: 61}, 20)
			f.timeline(t, segments.Timeline{ID: 3, Parent: 2, ForkIndex: 0, StartIndex: 200}, 20)
			putBase(t, f.st, 3, 205, 3)
		}, "gap"},
		{"two children, one without a base", func(t *testing.T, f *fixture) {
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 60, StartIndex: 61}, 20)
			putBase(t, f.st, 2, 70, 2)
			f.timeline(t, segments.Timeline{ID: 3, Parent: 1, ForkIndex: 80, StartIndex: 81}, 20)
		}, "gap"},
		{"child shares the hole, base on the parent inside the hole", func(t *testing.T, f *fixture) {
			putBase(t, f.st, 1, 20, 4)
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 60, StartIndex: 61}, 20)
		}, "gap"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, newMem(), wal.FormatBinary, 11)
			f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 100)
			c.setup(t, f)
			// Delete the segments wholly before entry 50 of timeline 1,
			// as prune does.
			var last uint64
			for _, key := range f.keys[1] {
				n, err := segments.ParseSegmentKey(key)
				if err != nil {
					t.Fatal(err)
				}
				if n.Last < 50 {
					if err := f.st.Delete(ctx, key); err != nil {
						t.Fatal(err)
					}
					last = n.Last
				}
			}
			r, err := Verify(ctx, f.st)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			r.Describe(&b)
			hole := Gap{Timeline: 1, From: 1, To: last}
			var got string
			switch {
			case len(r.Gaps) == 1 && r.Gaps[0] == hole && len(r.Retired)+len(r.BeforeBase) == 0:
				got = "gap"
			case len(r.Retired) == 1 && r.Retired[0] == hole && len(r.Gaps)+len(r.BeforeBase) == 0:
				got = "retired"
			case len(r.BeforeBase) == 1 && r.BeforeBase[0] == hole && len(r.Gaps)+len(r.Retired) == 0:
				got = "before_base"
			default:
				t.Fatalf("hole %+v not reported once:\n%s", hole, b.String())
			}
			if got != c.want {
				t.Fatalf("hole %+v reported as %s, want %s:\n%s", hole, got, c.want, b.String())
			}
			if r.OK() != (c.want != "gap") {
				t.Fatalf("OK() = %v for a %s:\n%s", r.OK(), got, b.String())
			}
		})
	}
}

// A prune on the newest timeline's behalf removes every segment of the
// timelines it left behind: a child whose own entries are all gone, and
// whose children share none of its history, needs nothing of its parent
// either (soak seed 20261202 run 24: timeline 5 forked from 4 at 430,
// timeline 6 from 5 at 277, before timeline 4's first entry 285). Only
// when a child of the left-behind one still shares the hole is it a gap.
func TestVerifyLeftBehindChain(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		fork3    uint64 // timeline 3's fork from timeline 2
		wantGaps int
	}{
		{"grandchild shares none of the hole", 0, 0},
		{"grandchild shares the hole", 70, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, newMem(), wal.FormatBinary, 12)
			f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 100)
			f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 60, StartIndex: 61}, 20)
			start3 := c.fork3 + 1
			if c.fork3 == 0 {
				start3 = 200
			}
			f.timeline(t, segments.Timeline{ID: 3, Parent: 2, ForkIndex: c.fork3, StartIndex: start3}, 20)
			for tl, keys := range map[uint32][]string{1: f.keys[1], 2: f.keys[2]} {
				for _, key := range keys {
					n, err := segments.ParseSegmentKey(key)
					if err != nil {
						t.Fatal(err)
					}
					if tl == 2 || n.Last < 50 {
						if err := f.st.Delete(ctx, key); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			r, err := Verify(ctx, f.st)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			r.Describe(&b)
			if len(r.Gaps) != c.wantGaps || r.OK() != (c.wantGaps == 0) {
				t.Fatalf("%d gaps, want %d:\n%s", len(r.Gaps), c.wantGaps, b.String())
			}
			if c.wantGaps == 0 && (len(r.Retired) != 1 || r.Retired[0].Timeline != 1) {
				t.Fatalf("want timeline 1's hole retired:\n%s", b.String())
			}
		})
	}
}

// The shape soak seed 20261202 run 24 left after a prune: timeline 2's
// prefix and timeline 3's prefix are gone, each keeps a tail that no
// restore can use, and timeline 4 forks from 3 before timeline 2's first
// own entry. Every hole is what prune removes; none is a GAP.
func TestVerifyRetiredChainWithTails(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 13)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 60)
	f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 40, StartIndex: 41}, 100)  // 41..140
	f.timeline(t, segments.Timeline{ID: 3, Parent: 2, ForkIndex: 100, StartIndex: 101}, 40) // 101..140
	f.timeline(t, segments.Timeline{ID: 4, Parent: 3, ForkIndex: 30, StartIndex: 31}, 20)   // 31..50
	// drop deletes every segment of tl that starts before below.
	drop := func(tl uint32, below uint64) {
		for _, key := range f.keys[tl] {
			n, err := segments.ParseSegmentKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if n.First < below {
				if err := f.st.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	drop(2, 120) // timeline 2 keeps what starts at 120 or later
	drop(3, 125) // timeline 3 keeps what starts at 125 or later
	r, err := Verify(ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.Describe(&b)
	if len(r.Gaps) != 0 || len(r.Retired) == 0 || r.Retired[0].Timeline != 2 && r.Retired[len(r.Retired)-1].Timeline != 2 {
		t.Fatalf("want timeline 2's hole (and 3's, if it has one) retired, no gap:\n%s", b.String())
	}
	// Timeline 4 forking at 45 instead needs timeline 2's entries 41..45:
	// then it is a gap.
	f.timeline(t, segments.Timeline{ID: 5, Parent: 3, ForkIndex: 45, StartIndex: 46}, 5)
	if r, err = Verify(ctx, f.st); err != nil {
		t.Fatal(err)
	}
	if len(r.Gaps) == 0 {
		b.Reset()
		r.Describe(&b)
		t.Fatalf("a child that needs timeline 2's missing entries, yet no gap:\n%s", b.String())
	}
}
