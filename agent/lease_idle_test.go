package agent

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/lease"
	"github.com/walship/walship/pitr"
)

// An idle agent makes no request: its lease is renewed only while it
// ships, and runs down when nothing is written. The next write renews it
// first (one conditional put) and then ships as usual; the store restores
// byte for byte.
func TestIdleAgentMakesNoRequests(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := metered.New(mem.New())
	ttl := 600 * time.Millisecond
	r := startWith(t, src.dir, func(o *Options) {
		o.Lease = LeaseOptions{TTL: ttl}
	}, st)
	src.write(50, "a")
	r.waitShipped(t, 1, src.last())
	time.Sleep(ttl / 3) // the renewal of a lease just used
	before := st.Counts()
	time.Sleep(3 * ttl) // nine renewal periods
	if idle := st.Counts().Sub(before); idle.Calls() != 0 {
		t.Fatalf("an idle agent made %s in %v; want no request", idle, 3*ttl)
	}
	before = st.Counts()
	src.write(50, "b")
	r.waitShipped(t, 1, src.last())
	got := st.Counts().Sub(before)
	if got.Put.Calls < 2 {
		t.Fatalf("after idling past its lease, shipping made %s; want the lease's renewal and a segment's put", got)
	}
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, src.last())
}

// Another agent takes the lease while this one is idle and its lease has
// run out: this agent's next write finds it lost and ships nothing more
// to that store; the other store goes on.
func TestIdleLeaseTakenWhileIdle(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st, other := mem.New(), mem.New()
	ttl := 600 * time.Millisecond
	r := startWith(t, src.dir, func(o *Options) {
		o.Lease = LeaseOptions{TTL: ttl}
	}, st, other)
	src.write(50, "a")
	r.waitShipped(t, 1, src.last())
	shipped := src.last()
	time.Sleep(2 * ttl) // idle: the lease expires unrenewed
	if _, err := lease.Acquire(context.Background(), st, lease.Self("/another/state", "/another/wal"), time.Minute, false); err != nil {
		t.Fatalf("another agent could not take the lease an idle agent let expire: %v", err)
	}
	src.write(50, "b")
	r.waitStoreShipped(t, 1, src.last(), 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !r.a.Status().Stores[0].Degraded {
		if time.Now().After(deadline) {
			t.Fatalf("store whose lease was taken: %+v, want degraded", r.a.Status().Stores[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	sl := r.a.leases.byID[st.String()]
	sl.mu.Lock()
	state, err := sl.state, sl.err
	sl.mu.Unlock()
	if state != leaseFailed || !errors.Is(err, lease.ErrLost) {
		t.Fatalf("lease state %v, %v; want lost", state, err)
	}
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, shipped)
	restoreAndCompare(t, other, pitr.Target{Latest: true}, src.want, 1, src.last())
}

// hangingCAS is a store with conditional writes (a lease) whose every call
// is held until its context ends while hung is set.
type hangingCAS struct {
	*mem.Store
	hung atomic.Bool
}

func (h *hangingCAS) wait(ctx context.Context) error {
	if !h.hung.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingCAS) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Store.Put(ctx, key, r, size)
}

func (h *hangingCAS) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	if err := h.wait(ctx); err != nil {
		return "", err
	}
	return h.Store.PutIf(ctx, key, r, size, match)
}

func (h *hangingCAS) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := h.wait(ctx); err != nil {
		return nil, "", err
	}
	return h.Store.GetVersion(ctx, key)
}

func (h *hangingCAS) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := h.wait(ctx); err != nil {
		return nil, err
	}
	return h.Store.Get(ctx, key, off, n)
}

func (h *hangingCAS) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := h.wait(ctx); err != nil {
		return backends.ObjectInfo{}, err
	}
	return h.Store.Stat(ctx, key)
}

func (h *hangingCAS) List(ctx context.Context, p, a string, fn func(backends.ObjectInfo) error) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Store.List(ctx, p, a, fn)
}

// A store that hangs while the agent is idle holds up the other no longer
// than renewWait when writes resume: its lease's renewal is waited for that
// long, then it counts as degraded (the spool bound drops segments for it)
// while the healthy store ships a backlog over the bound. When it answers
// again it ships on.
func TestIdleLeaseOfHungStore(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	healthy, h := mem.New(), &hangingCAS{Store: mem.New()}
	ttl := 3 * time.Second // renewWait 1s
	r := startWith(t, src.dir, func(o *Options) {
		o.SpoolMaxBytes = 20 << 10
		o.ReconcileMaxBackoff = 300 * time.Millisecond // catches up soon after it answers
		o.Lease = LeaseOptions{TTL: ttl}
	}, healthy, h)
	src.write(50, "a")
	r.waitShipped(t, 1, src.last())
	time.Sleep(ttl/3 + 200*time.Millisecond) // the lease goes idle
	h.hung.Store(true)
	time.Sleep(ttl)     // and runs down: the next write needs a renewal
	src.write(800, "b") // a backlog far over the 20 KiB spool bound
	r.waitStoreShipped(t, 0, src.last(), 10*time.Second)
	if st := r.a.Status().Stores[1]; !st.Degraded {
		t.Fatalf("hung store after idling: %+v, want degraded", st)
	}
	h.hung.Store(false)
	src.write(20, "c")
	r.waitStoreShipped(t, 1, src.last(), 30*time.Second)
	r.halt(t)
	restoreAndCompare(t, healthy, pitr.Target{Latest: true}, src.want, 1, src.last())
}

// keepLeases acquires a lease on st with ttl and keeps it (leaseSet.run)
// until the test ends.
func keepLeases(t *testing.T, st backends.Store, ttl time.Duration) *leaseSet {
	t.Helper()
	ls, err := leaseAgent("/s/a", st).acquireLeases(context.Background(), LeaseOptions{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ls.run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return ls
}

// While the renewal of a hung store's lease runs (up to TTL/3), asking
// whether that store is writable answers at once: snapshots, prunes and
// compaction ask for every store in turn, and a hung one must not hold
// up the others.
func TestLeaseAnswersDuringHungRenewal(t *testing.T) {
	h := &hangingCAS{Store: mem.New()}
	ttl := 3 * time.Second
	ls := keepLeases(t, h, ttl)
	id := h.String()
	time.Sleep(ttl - ttl/3 + 100*time.Millisecond) // idle: no longer fresh
	h.hung.Store(true)
	if ls.writable(id) {
		t.Fatal("a lease idle for two thirds of its TTL is still fresh")
	}
	time.Sleep(100 * time.Millisecond) // the renewal it woke hangs now
	for range 3 {
		start := time.Now()
		w := ls.writable(id)
		if took := time.Since(start); took > 100*time.Millisecond || w {
			t.Fatalf("writable during a hung renewal: %v after %v; want false at once", w, took)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A write waiting for the renewal of an idle lease keeps the lease in use
// however long the store hangs: once the store answers, the renewal goes
// through and the write goes on.
func TestLeaseWaiterOutlastsHang(t *testing.T) {
	ctx := context.Background()
	h := &hangingCAS{Store: mem.New()}
	ttl := 600 * time.Millisecond
	ls := keepLeases(t, h, ttl)
	time.Sleep(ttl) // idle: no longer fresh
	h.hung.Store(true)
	got := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		got <- ls.ready(wctx, h.String())
	}()
	time.Sleep(5 * ttl) // renewals fail, for many renewal periods
	h.hung.Store(false)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiting write after the store answered again: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lease was not renewed once the store answered again: the waiting write is stuck")
	}
	if !ls.writable(h.String()) {
		t.Fatal("renewed lease not writable")
	}
}
