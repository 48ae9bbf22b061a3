package pitr

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

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
	for _, i := range []int{0, len(p.Segments) / 2} {
		ps := p.Segments[i]
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
	gone := p.Segments[len(p.Segments)-1]
	if err := f.st.Delete(ctx, gone.Key()); err != nil {
		t.Fatal(err)
	}
	_, err = Execute(ctx, f.st, p, filepath.Join(t.TempDir(), "out"), Options{})
	if err == nil || !strings.Contains(err.Error(), gone.Key()) || !strings.Contains(err.Error(), "listed but is gone") {
		t.Fatalf("restore with a planned segment gone and no other generation: %v", err)
	}
}
