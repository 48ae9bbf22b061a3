package pitr

import (
	"context"
	"strings"
	"testing"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

func TestVerifyClean(t *testing.T) {
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			f := fixtureFork(t, mk(t), wal.FormatBinary, 30)
			fg := fixtureGap(t, mk(t), wal.FormatJSON, 31)
			for _, fx := range []*fixture{f, fg} {
				r, err := Verify(context.Background(), fx.st)
				if err != nil {
					t.Fatal(err)
				}
				nseg, nent := 0, uint64(0)
				for tl, keys := range fx.keys {
					nseg += len(keys)
					nent += uint64(len(fx.own[tl]))
				}
				if !r.OK() || r.Segments != nseg || r.Timelines != len(fx.recs) || r.Objects != nseg+len(fx.recs) || r.Entries != nent || r.Bytes == 0 {
					t.Fatalf("report %+v", r)
				}
				var b strings.Builder
				r.Describe(&b)
				if !strings.Contains(b.String(), "OK: no damage, no gaps") {
					t.Fatalf("describe: %s", b.String())
				}
			}
			r, _ := Verify(context.Background(), fg.st)
			if len(r.Lost) != 1 || r.Lost[0] != (Gap{2, 101, 150}) {
				t.Fatalf("lost %v", r.Lost)
			}
		})
	}
}

func TestVerifyHistoryProblems(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 32)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 50)
	// Segments of a timeline with no record.
	es := f.entries(1, 5)
	putSegment(t, f.st, 4, f.format, segments.CodecNone, es)
	// A record that does not decode.
	put(t, f.st, segments.TimelineKey(2), []byte(`{"format":"walship.timeline","version":1,"body":{},"sha256":"00"}`))
	// A child whose fork point lies past the parent's segments.
	putTimeline(t, f.st, segments.Timeline{ID: 3, Parent: 1, ForkIndex: 70, StartIndex: 71})
	r, err := Verify(ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range r.Damaged {
		got[d.Key] = d.Problem
	}
	if len(got) != 2 || !strings.Contains(got[segments.TimelineKey(2)], "SHA-256") || !strings.Contains(got[segments.TimelineKey(4)], "no readable timeline record") {
		t.Fatalf("damage %+v", r.Damaged)
	}
	if len(r.Gaps) != 1 || r.Gaps[0] != (Gap{1, 51, 70}) {
		t.Fatalf("gaps %+v", r.Gaps)
	}
}
