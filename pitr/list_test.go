package pitr

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
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

// reversedList lists its store's keys in descending order: a store that
// breaks the List contract.
type reversedList struct{ backends.Store }

func (r reversedList) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	var all []backends.ObjectInfo
	if err := r.Store.List(ctx, prefix, after, func(oi backends.ObjectInfo) error { all = append(all, oi); return nil }); err != nil {
		return err
	}
	for _, oi := range slices.Backward(all) {
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}

// TestListNewestGenerations: the planner's listing keeps each family's
// highest generation as it lists (".g10" sorts before ".g2" in key
// order), counts foreign keys, and gives the same answer for a store whose
// listing is out of order. EachSegment streams every generation in
// ListSegments' order, and refuses a listing out of order.
func TestListNewestGenerations(t *testing.T) {
	ctx := context.Background()
	st := newMem()
	var all []SegmentInfo
	for i, gens := range [][]uint32{{0}, {0, 1}, {2, 10, 0}, {1}, {0, 3}} {
		for _, g := range gens {
			n := segments.SegmentName{Timeline: 1, First: uint64(10*i + 1), Last: uint64(10*i + 10), MaxTime: int64(i), Gen: g}
			put(t, st, n.Key(), make([]byte, 10+g))
			all = append(all, SegmentInfo{Size: int64(10 + g), Name: n})
		}
	}
	for _, junk := range []string{"segments/00000001/junk", "segments/00000001/00000000000000000001-00000000000000000010-00000000000000000000.g01.wseg",
		"segments/00000001/00000000000000000001-00000000000000000010-00000000000000000000.g0.wseg", "segments/00000001/x", "segments/00000001/y"} {
		put(t, st, junk, []byte("x"))
	}
	sortSegments(all)
	want := newestGenerations(all)
	if len(want) != 5 || want[2].Name.Gen != 10 || want[4].Name.Gen != 3 {
		t.Fatalf("newest generations %+v", want)
	}
	for _, s := range []backends.Store{st, reversedList{st}} {
		seq, ignored, err := listSegmentTable(ctx, s, segments.TimelinePrefix(1))
		if err != nil {
			t.Fatal(err)
		}
		var got []SegmentInfo // two in memory, the rest in the table's file (TestMain)
		for i := range seq.Len() {
			got = append(got, seq.At(i))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%T: listed %+v, want %+v", s, got, want)
		}
		if ignored.n != 5 || len(ignored.ex) != 3 {
			t.Fatalf("%T: ignored %+v, want 5 counted and 3 kept", s, ignored)
		}
		var each []SegmentInfo
		err = EachSegment(ctx, s, 1, func(si SegmentInfo) error { each = append(each, si); return nil })
		if _, reversed := s.(reversedList); reversed != errors.Is(err, errListOrder) || !reversed && (err != nil || !slices.Equal(each, all)) {
			t.Fatalf("%T: EachSegment gave %+v, %v; want %+v", s, each, err, all)
		}
		every, _, err := listSegments(ctx, s, segments.TimelinePrefix(1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(every, all) {
			t.Fatalf("%T: every generation %+v, want %+v", s, every, all)
		}
	}
}
