package pitr

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/walship/walship/backends"
)

// failingList lists its store, then fails.
type failingList struct{ backends.Store }

var errListFailed = errors.New("listing failed")

// cutList lists the first n keys of its store, then fails.
type cutList struct {
	backends.Store
	n int
}

func (c cutList) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	i := 0
	err := c.Store.List(ctx, prefix, after, func(oi backends.ObjectInfo) error {
		if i++; i > c.n {
			return errListFailed
		}
		return fn(oi)
	})
	return err
}

func (f failingList) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := f.Store.List(ctx, prefix, after, fn); err != nil {
		return err
	}
	return errListFailed
}

// joinListings sees every key of a once, with b's size where b has it, and
// every key only b has, whatever the overlap; it refuses a listing out of
// order and passes on a listing's failure and fn's.
func TestJoinListings(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		a, b := newMem(), newMem()
		inA, inB := map[string]bool{}, map[string]int{}
		for i := range 2000 + r.IntN(2000) { // more than the queues hold
			k := fmt.Sprintf("k/%06d", i)
			switch r.IntN(4) {
			case 0:
				put(t, a, k, []byte("a"))
				inA[k] = true
			case 1:
				put(t, b, k, []byte("bb"))
				inB[k] = 2
			case 2:
				put(t, a, k, []byte("a"))
				put(t, b, k, []byte("bbb"))
				inA[k], inB[k] = true, 3
			}
		}
		var seen, onlyB []string
		err := joinListings(ctx, a, b, func(oi backends.ObjectInfo, size int64, ok bool) error {
			if want, has := inB[oi.Key]; ok != has || int64(want) != size || !inA[oi.Key] {
				t.Fatalf("seed %d: %s: in b %v (%d bytes), want %v (%d)", seed, oi.Key, ok, size, has, want)
			}
			seen = append(seen, oi.Key)
			return nil
		}, func(oi backends.ObjectInfo) { onlyB = append(onlyB, oi.Key) })
		if err != nil {
			t.Fatal(err)
		}
		var wantOnlyB []string
		for k := range inB {
			if !inA[k] {
				wantOnlyB = append(wantOnlyB, k)
			}
		}
		slices.Sort(wantOnlyB)
		if len(seen) != len(inA) || !slices.IsSorted(seen) || !slices.Equal(onlyB, wantOnlyB) {
			t.Fatalf("seed %d: saw %d of a's %d keys; %d only in b, want %d", seed, len(seen), len(inA), len(onlyB), len(wantOnlyB))
		}
		if seed > 0 {
			continue
		}
		noop := func(backends.ObjectInfo, int64, bool) error { return nil }
		if err := joinListings(ctx, reversedList{a}, b, noop, nil); !errors.Is(err, errListOrder) {
			t.Fatalf("a listed out of order: %v", err)
		}
		if err := joinListings(ctx, a, reversedList{b}, noop, func(backends.ObjectInfo) {}); !errors.Is(err, errListOrder) {
			t.Fatalf("b listed out of order: %v", err)
		}
		for _, c := range []struct{ a, b backends.Store }{{failingList{a}, b}, {a, failingList{b}}} {
			if err := joinListings(ctx, c.a, c.b, noop, func(backends.ObjectInfo) {}); !errors.Is(err, errListFailed) {
				t.Fatalf("a listing failed: %v", err)
			}
		}
		// b's listing fails halfway: the walk fails there, and never takes
		// the keys past it for keys b does not hold.
		cut := cutList{b, len(inB) / 2}
		wrong := 0
		err = joinListings(ctx, a, cut, func(oi backends.ObjectInfo, _ int64, ok bool) error {
			if _, has := inB[oi.Key]; has && !ok {
				wrong++
			}
			return nil
		}, nil)
		if !errors.Is(err, errListFailed) || wrong > 0 {
			t.Fatalf("b's listing failed halfway: %v, %d keys of b's taken as missing", err, wrong)
		}
		stop := errors.New("stop")
		n := 0
		err = joinListings(ctx, a, b, func(backends.ObjectInfo, int64, bool) error {
			if n++; n == 10 {
				return stop
			}
			return nil
		}, nil)
		if !errors.Is(err, stop) || n != 10 {
			t.Fatalf("fn's error: %v after %d keys", err, n)
		}
	}
}
