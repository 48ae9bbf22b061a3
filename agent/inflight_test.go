package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// slowPuts holds every segment Put for a while, records how many are in
// flight at once, and fails the Puts of the segment holding entry failAt
// while failing is set.
type slowPuts struct {
	backends.Store
	inFlight, most atomic.Int64
	failAt         uint64
	failing        atomic.Bool
	failed         atomic.Int64
}

func (s *slowPuts) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if !strings.HasPrefix(key, segments.SegmentsPrefix) {
		return s.Store.Put(ctx, key, r, size)
	}
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	time.Sleep(20 * time.Millisecond)
	if n, err := segments.ParseSegmentKey(key); err == nil && s.failing.Load() && n.First <= s.failAt && s.failAt <= n.Last {
		s.failed.Add(1)
		return fmt.Errorf("put %s: %w", key, errInjected)
	}
	return s.Store.Put(ctx, key, r, size)
}

// A backlog goes up several segments at a time per store, never more than
// UploadsInFlight, and the cursor advances in order: a segment that fails
// holds the cursor, whatever went up beside it, until reconcile gets it
// through; the store ends exact.
func TestUploadsInFlight(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := &slowPuts{Store: mem.New()}
	src.write(600, "a") // a backlog of many 8 KiB segments
	r := startWith(t, src.dir, func(o *Options) { o.UploadsInFlight = 3 }, st)
	r.waitShipped(t, 1, 600)
	if m := st.most.Load(); m < 2 || m > 3 {
		t.Fatalf("at most %d segment uploads in flight, want 2 or 3", m)
	}
	// A second backlog; the segment holding entry 650 fails for a while.
	st.failAt = 650
	st.failing.Store(true)
	src.write(300, "b")
	waitFor(t, "the store degraded on the failing segment", func() bool {
		return st.failed.Load() > 0 && r.a.Status().Stores[0].Degraded
	})
	for range 20 {
		if got := r.a.Status().Stores[0].Shipped; got >= 650 || storeHas(st.Store, 650) {
			t.Fatalf("shipped index %d (entry 650 stored: %v) while the segment holding 650 fails", got, storeHas(st.Store, 650))
		}
		time.Sleep(10 * time.Millisecond)
	}
	st.failing.Store(false)
	r.waitShipped(t, 1, 900)
	r.halt(t)
	restoreAndCompare(t, st.Store, pitr.Target{Latest: true}, src.want, 1, 900)
}

// storeHas says whether a segment of st holds entry idx.
func storeHas(st backends.Store, idx uint64) bool {
	found := false
	st.List(context.Background(), segments.SegmentsPrefix, "", func(oi backends.ObjectInfo) error {
		if n, err := segments.ParseSegmentKey(oi.Key); err == nil && n.First <= idx && idx <= n.Last {
			found = true
		}
		return nil
	})
	return found
}

// heldPut holds the Put of the segment holding entry holdAt until release
// is closed, and counts the Puts of later segments that finish before.
type heldPut struct {
	backends.Store
	holdAt   uint64
	release  chan struct{}
	released atomic.Bool
	beside   atomic.Int64 // Puts of segments after holdAt's, finished before the release
}

func (h *heldPut) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if n, err := segments.ParseSegmentKey(key); err == nil {
		switch {
		case n.First <= h.holdAt && h.holdAt <= n.Last:
			select {
			case <-h.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		case n.First > h.holdAt:
			defer func() {
				if !h.released.Load() {
					h.beside.Add(1)
				}
			}()
		}
	}
	return h.Store.Put(ctx, key, r, size)
}

// One slow upload does not hold the others in lockstep: while it waits,
// the next uploads go on as slots free, up to windowSpan items past the
// cursor, and the cursor stays before the slow one until it is through.
func TestUploadWindowSlides(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := &heldPut{Store: mem.New(), holdAt: 50, release: make(chan struct{})}
	src.write(600, "a") // a backlog of many 8 KiB segments
	const inFlight = 2
	r := startWith(t, src.dir, func(o *Options) { o.UploadsInFlight = inFlight }, st)
	// Uploads in batches of two would let one Put finish beside the held
	// one; the window lets the rest of its span go up.
	want := int64(windowSpan(inFlight) - 1)
	waitFor(t, "the uploads after the held one", func() bool { return st.beside.Load() >= want })
	for range 20 {
		if got := r.a.Status().Stores[0].Shipped; got >= 50 {
			t.Fatalf("cursor at entry %d while the segment holding entry 50 is not stored", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := st.beside.Load(); got != want {
		t.Fatalf("%d uploads finished beside the held one, want %d (the window's span)", got, want)
	}
	st.released.Store(true)
	close(st.release)
	r.waitShipped(t, 1, 600)
	r.halt(t)
	restoreAndCompare(t, st.Store, pitr.Target{Latest: true}, src.want, 1, 600)
}
