package pitr

import (
	"context"
	"testing"

	"github.com/walship/walship/wal"
)

func TestList(t *testing.T) {
	ctx := context.Background()
	f := fixtureFork(t, newMem(), wal.FormatBinary, 33)
	put(t, f.st, "segments/00000001/junk", []byte("x"))
	tls, err := ListTimelines(ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	if len(tls) != 3 || tls[0].ID != 1 || tls[2].Parent != 2 || tls[2].ForkIndex != 280 {
		t.Fatalf("timelines %+v", tls)
	}
	all, err := ListSegments(ctx, f.st, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := len(f.keys[1]) + len(f.keys[2]) + len(f.keys[3])
	if len(all) != want {
		t.Fatalf("%d segments, want %d", len(all), want)
	}
	two, err := ListSegments(ctx, f.st, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(two) != len(f.keys[2]) || two[0].Key() != f.keys[2][0] || two[0].Name.First != 201 || two[0].Size == 0 || two[0].MaxTime().IsZero() {
		t.Fatalf("timeline 2: %+v", two)
	}
}
