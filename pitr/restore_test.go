package pitr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

var formats = []wal.Format{wal.FormatBinary, wal.FormatJSON}

// restoreAndRead restores t from st into a new directory and reads the log
// back.
func restoreAndRead(t *testing.T, st backends.Store, tg Target, format wal.Format, o Options) (*Plan, Result, []segments.Entry, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	p, res, err := Restore(context.Background(), st, tg, out, o)
	if err != nil {
		noWAL(t, out)
		return p, res, nil, err
	}
	size := o.SegmentSize
	if size == 0 {
		size = DefaultSegmentSize
	}
	if res.WALDir != filepath.Join(out, "wal") {
		t.Fatalf("WAL dir %s", res.WALDir)
	}
	got := readLog(t, res.WALDir, format, size)
	assertNames(t, out, "wal") // and the restore marker
	return p, res, got, nil
}

func TestRestoreLatest(t *testing.T) {
	for sname, mk := range stores(t) {
		for _, format := range formats {
			for _, start := range []uint64{1, 1000} {
				t.Run(fmt.Sprintf("%s/%s/start=%d", sname, format, start), func(t *testing.T) {
					f := newFixture(t, mk(t), format, int64(start)+int64(format))
					f.timeline(t, segments.Timeline{ID: 1, StartIndex: start}, 300)
					p, res, got, err := restoreAndRead(t, f.st, Target{}, format, Options{SegmentSize: 64 << 10})
					if err != nil {
						t.Fatal(err)
					}
					want, _ := f.expect(1, f.latest(1))
					sameEntries(t, got, want)
					if p.From != start || p.To != start+299 || p.Format != format || p.Timeline != 1 {
						t.Fatalf("plan %d..%d format %s timeline %d", p.From, p.To, p.Format, p.Timeline)
					}
					if res.Entries != 300 || res.From != start || res.To != start+299 || res.Segments != len(f.keys[1]) || res.Bytes != p.Bytes || res.Files < 2 {
						t.Fatalf("result %+v", res)
					}
				})
			}
		}
	}
}

// fixtureFork is the TruncateBack shape: timeline 2 forks from 1 after 200,
// while timeline 1 had shipped up to 300; timeline 3 forks from 2 after 280.
func fixtureFork(t *testing.T, st backends.Store, format wal.Format, seed int64) *fixture {
	f := newFixture(t, st, format, seed)
	f.big = 256 << 10
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
	f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 200, StartIndex: 201, Reason: "TruncateBack"}, 150)
	f.timeline(t, segments.Timeline{ID: 3, Parent: 2, ForkIndex: 280, StartIndex: 281, Reason: "TruncateBack"}, 60)
	return f
}

// fixtureGap is the TruncateFront shape: the database dropped entries
// 101..150 before walship shipped them; timeline 2 starts at 151.
func fixtureGap(t *testing.T, st backends.Store, format wal.Format, seed int64) *fixture {
	f := newFixture(t, st, format, seed)
	f.big = 256 << 10
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 100)
	f.timeline(t, segments.Timeline{ID: 2, Parent: 1, ForkIndex: 100, StartIndex: 151, Reason: "TruncateFront"}, 100)
	return f
}

func TestRestoreIndexTargets(t *testing.T) { bothDecodePaths(t, testRestoreIndexTargets) }

func testRestoreIndexTargets(t *testing.T) {
	for sname, mk := range stores(t) {
		for _, format := range formats {
			t.Run(fmt.Sprintf("%s/%s", sname, format), func(t *testing.T) {
				f := fixtureFork(t, mk(t), format, 7)
				fg := fixtureGap(t, mk(t), format, 8)
				for _, fx := range []*fixture{f, fg} {
					for i := 0; i < 5; i++ {
						tl := uint32(1 + fx.rng.Intn(len(fx.recs)))
						n := uint64(1 + fx.rng.Intn(int(fx.latest(tl))))
						want, ok := fx.expect(tl, n)
						tg := Target{Index: n, Timeline: tl}
						_, _, got, err := restoreAndRead(t, fx.st, tg, format, Options{SegmentSize: 32 << 10})
						if !ok {
							if !errors.Is(err, ErrNotRestorable) {
								t.Fatalf("%s: got %v, want ErrNotRestorable", tg, err)
							}
							continue
						}
						if err != nil {
							t.Fatalf("%s: %v", tg, err)
						}
						sameEntries(t, got, want)
					}
				}
			})
		}
	}
}

func TestRestoreTimeTargets(t *testing.T) {
	for sname, mk := range stores(t) {
		for _, format := range formats {
			t.Run(fmt.Sprintf("%s/%s", sname, format), func(t *testing.T) {
				f := fixtureFork(t, mk(t), format, 11)
				fg := fixtureGap(t, mk(t), format, 12)
				for _, fx := range []*fixture{f, fg} {
					span := fx.now - baseTime
					for i := 0; i < 5; i++ {
						tl := uint32(1 + fx.rng.Intn(len(fx.recs)))
						// From before the first entry to after the last.
						at := baseTime - span/10 + fx.rng.Int63n(span+span/5)
						if i == 0 {
							at = baseTime - 1
						}
						if i == 1 {
							at = fx.now + 1
						}
						want, ok := fx.expectTime(tl, at)
						tg := Target{Time: time.Unix(0, at), Timeline: tl}
						_, _, got, err := restoreAndRead(t, fx.st, tg, format, Options{})
						if !ok {
							if !errors.Is(err, ErrNotRestorable) {
								t.Fatalf("%s: got %v, want ErrNotRestorable", tg, err)
							}
							continue
						}
						if err != nil {
							t.Fatalf("%s: %v", tg, err)
						}
						sameEntries(t, got, want)
					}
				}
			})
		}
	}
}

func TestForkTruncateBack(t *testing.T) {
	f := fixtureFork(t, newMem(), wal.FormatBinary, 3)
	cases := []struct {
		tg    Target
		want  []segments.Entry
		spans []Span
	}{
		{Target{}, nil, []Span{{1, 1, 200}, {2, 201, 280}, {3, 281, 340}}},
		{Target{Timeline: 2}, nil, []Span{{1, 1, 200}, {2, 201, 350}}},
		{Target{Timeline: 1}, nil, []Span{{1, 1, 300}}},
		{Target{Timeline: 2, Index: 150}, nil, []Span{{1, 1, 150}}},
		{Target{Timeline: 3, Index: 250}, nil, []Span{{1, 1, 200}, {2, 201, 250}}},
		{Target{Timeline: 1, Latest: true}, nil, []Span{{1, 1, 300}}},
	}
	for _, c := range cases {
		t.Run(c.tg.String(), func(t *testing.T) {
			p, _, got, err := restoreAndRead(t, f.st, c.tg, wal.FormatBinary, Options{Parallel: 2})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(p.Spans) != fmt.Sprint(c.spans) {
				t.Fatalf("spans %v, want %v", p.Spans, c.spans)
			}
			var want []segments.Entry
			for _, sp := range c.spans {
				for _, e := range f.own[sp.Timeline] {
					if e.Index >= sp.From && e.Index <= sp.To {
						want = append(want, e)
					}
				}
			}
			sameEntries(t, got, want)
		})
	}
	// Timeline 1's segments hold entries past the fork: timeline 2 must not
	// use them.
	p, err := MakePlan(context.Background(), f.st, Target{Timeline: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range p.Segments.All() {
		if ps.Timeline == 1 && ps.To > 200 {
			t.Fatalf("timeline 2's plan uses timeline 1's entry %d", ps.To)
		}
	}
}

func TestGapTruncateFront(t *testing.T) {
	f := fixtureGap(t, newMem(), wal.FormatJSON, 4)
	ctx := context.Background()

	p, _, got, err := restoreAndRead(t, f.st, Target{}, wal.FormatJSON, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, got, f.own[2])
	if p.From != 151 || !strings.Contains(strings.Join(p.Notes, "\n"), "entries 101..150 were truncated") {
		t.Fatalf("plan from %d, notes %q", p.From, p.Notes)
	}

	_, err = MakePlan(ctx, f.st, Target{Index: 120})
	if !errors.Is(err, ErrNotRestorable) {
		t.Fatalf("index in gap: %v", err)
	}
	for _, want := range []string{"101..150", "--timeline 1 --index 100", "--index >= 151"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("gap error %q does not say %q", err, want)
		}
	}

	// Below the fork the parent's history is restorable.
	_, _, got, err = restoreAndRead(t, f.st, Target{Index: 80}, wal.FormatJSON, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, got, f.own[1][:80])

	// A time between the last shipped entry before the loss and the first
	// after it falls in the lost entries.
	at := time.Unix(0, f.own[2][0].Time-1)
	if _, err := MakePlan(ctx, f.st, Target{Time: at}); !errors.Is(err, ErrNotRestorable) || !strings.Contains(err.Error(), "101..150") {
		t.Fatalf("time in gap: %v", err)
	}
	// Before the first entry of all.
	_, err = MakePlan(ctx, f.st, Target{Time: time.Unix(0, baseTime-1)})
	if !errors.Is(err, ErrNotRestorable) || !strings.Contains(err.Error(), "first entry") {
		t.Fatalf("time before first: %v", err)
	}
	// Before the first shipped entry of a log that started at 1000.
	f2 := newFixture(t, newMem(), wal.FormatBinary, 5)
	f2.timeline(t, segments.Timeline{ID: 1, StartIndex: 1000}, 10)
	if _, err := MakePlan(ctx, f2.st, Target{Index: 999}); !errors.Is(err, ErrNotRestorable) || !strings.Contains(err.Error(), "--index >= 1000") {
		t.Fatalf("index before start: %v", err)
	}
}

func TestMissingSegment(t *testing.T) {
	ctx := context.Background()
	f := fixtureFork(t, newMem(), wal.FormatBinary, 9)
	// Delete a middle segment of timeline 1 below the fork.
	var victim string
	var name segments.SegmentName
	for _, k := range f.keys[1][1:] {
		name, _ = segments.ParseSegmentKey(k)
		if name.Last < 200 {
			victim = k
			break
		}
	}
	if err := f.st.Delete(ctx, victim); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []Target{{}, {Timeline: 2, Index: 300}, {Timeline: 1, Index: 300}} {
		out := filepath.Join(t.TempDir(), "out")
		_, _, err := Restore(ctx, f.st, tg, out, Options{})
		if !errors.Is(err, ErrMissingSegments) {
			t.Fatalf("%s: %v", tg, err)
		}
		rng := fmt.Sprintf("entries %d..%d", name.First, name.Last)
		if !strings.Contains(err.Error(), "timeline 1") || !strings.Contains(err.Error(), rng) ||
			!strings.Contains(err.Error(), fmt.Sprintf("--index %d", name.First-1)) {
			t.Fatalf("%s: error %q should name timeline 1, %s and --index %d", tg, err, rng, name.First-1)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("planning error created %s", out)
		}
	}
	// A target before the hole still restores.
	if _, _, _, err := restoreAndRead(t, f.st, Target{Index: name.First - 1}, wal.FormatBinary, Options{}); err != nil {
		t.Fatal(err)
	}
	// Verify reports the hole.
	r, err := Verify(ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Gaps) != 1 || r.Gaps[0] != (Gap{1, name.First, name.Last}) || r.OK() {
		t.Fatalf("gaps %v", r.Gaps)
	}
}

func TestLatestRefusesHole(t *testing.T) {
	f := newFixture(t, newMem(), wal.FormatBinary, 10)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 200)
	victim := f.keys[1][len(f.keys[1])-2]
	name, _ := segments.ParseSegmentKey(victim)
	if err := f.st.Delete(context.Background(), victim); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, _, err := Restore(context.Background(), f.st, Target{}, out, Options{})
	want := fmt.Sprintf("entries %d..%d", name.First, name.Last)
	if !errors.Is(err, ErrMissingSegments) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("--index %d", name.First-1)) {
		t.Fatalf("latest across a hole: %v; want an error naming %s and --index %d", err, want, name.First-1)
	}
	noWAL(t, out)
	// What it offers instead restores.
	_, _, got, err := restoreAndRead(t, f.st, Target{Index: name.First - 1}, wal.FormatBinary, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, got, f.own[1][:name.First-1])
}

func TestSegmentDeletedAfterPlan(t *testing.T) {
	ctx := context.Background()
	f := fixtureFork(t, newMem(), wal.FormatBinary, 12)
	p, err := MakePlan(ctx, f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	victim := p.Segments.At(p.Segments.Len() / 2).Key()
	if err := f.st.Delete(ctx, victim); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, err = Execute(ctx, f.st, p, out, Options{Parallel: 3})
	if !errors.Is(err, ErrMissingSegments) || !errors.Is(err, backends.ErrNotFound) || !strings.Contains(err.Error(), victim) {
		t.Fatalf("got %v", err)
	}
	noWAL(t, out)
}

func TestNoBackup(t *testing.T) {
	ctx := context.Background()
	st := newMem()
	_, err := MakePlan(ctx, st, Target{})
	if !errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), "no walship backup found in "+st.String()+" (no timelines/ objects); check the URL/prefix") {
		t.Fatalf("got %v", err)
	}
	put(t, st, "timelines/foreign.json", []byte("{}"))
	if _, err := MakePlan(ctx, st, Target{}); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("only a foreign key: %v", err)
	}
	// A timeline without segments.
	putTimeline(t, st, segments.Timeline{ID: 1, StartIndex: 1})
	if _, err := MakePlan(ctx, st, Target{}); !errors.Is(err, ErrMissingSegments) || !strings.Contains(err.Error(), "no segments yet") {
		t.Fatalf("no segments: %v", err)
	}
}

func TestBrokenHistory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 13)
	f.timeline(t, segments.Timeline{ID: 3, Parent: 2, ForkIndex: 10, StartIndex: 11}, 10)
	_, err := MakePlan(ctx, f.st, Target{})
	if !errors.Is(err, ErrBrokenHistory) || !strings.Contains(err.Error(), "timeline 3 names parent 2") || !strings.Contains(err.Error(), "timelines/00000002.json") {
		t.Fatalf("got %v", err)
	}
	if _, err := MakePlan(ctx, f.st, Target{Timeline: 9}); !errors.Is(err, ErrBrokenHistory) {
		t.Fatalf("unknown timeline: %v", err)
	}
	// A newest record that does not decode is named; an older one is not in the way.
	g := newFixture(t, newMem(), wal.FormatBinary, 14)
	g.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 10)
	put(t, g.st, segments.TimelineKey(2), []byte("garbage"))
	if _, err := MakePlan(ctx, g.st, Target{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "timelines/00000002.json") {
		t.Fatalf("corrupt newest record: %v", err)
	}
	if _, err := MakePlan(ctx, g.st, Target{Timeline: 1}); err != nil {
		t.Fatalf("timeline 1 beside a corrupt timeline 2: %v", err)
	}
	r, err := Verify(ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Damaged) != 1 || r.Damaged[0].Key != "timelines/00000003.json" || !strings.Contains(r.Damaged[0].Problem, "parent timeline 2") {
		t.Fatalf("damage %v", r.Damaged)
	}
}

func TestBadTarget(t *testing.T) {
	_, err := MakePlan(context.Background(), newMem(), Target{Latest: true, Index: 5})
	if !errors.Is(err, ErrBadTarget) {
		t.Fatalf("got %v", err)
	}
	_, err = MakePlan(context.Background(), newMem(), Target{Index: 5, Time: time.Now()})
	if !errors.Is(err, ErrBadTarget) {
		t.Fatalf("got %v", err)
	}
}

func TestDescribe(t *testing.T) {
	f := fixtureFork(t, newMem(), wal.FormatJSON, 14)
	p, err := MakePlan(context.Background(), f.st, Target{Timeline: 2})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p.Describe(&b)
	out := b.String()
	for _, want := range []string{
		"timeline:  2",
		"timeline 1: first shipped entry 1",
		"timeline 2: forked from timeline 1 after entry 200, own entries from 201 [TruncateBack]",
		"1..350 (350 entries): 1..200 from timeline 1, 201..350 from timeline 2",
		fmt.Sprintf("segments:  %d to fetch", p.Segments.Len()),
		fmt.Sprintf("(%d bytes)", p.Bytes),
		"tidwall/wal json",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Describe output lacks %q:\n%s", want, out)
		}
	}
}
