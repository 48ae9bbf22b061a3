package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/lease"
	"github.com/walship/walship/pitr"
)

func leaseAgent(stateDir string, stores ...backends.Store) *Agent {
	opt := Options{WALDir: "/db/wal", StateDir: stateDir}
	for _, s := range stores {
		opt.Stores = append(opt.Stores, Store{Name: s.String(), Store: s})
	}
	return &Agent{opt: opt, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestLeaseSecondAgentRefused(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	first, err := leaseAgent("/s/one", st).acquireLeases(ctx, LeaseOptions{})
	if err != nil {
		t.Fatalf("first agent: %v", err)
	}
	if err := first.ready(ctx, st.String()); err != nil {
		t.Fatalf("first agent's store not ready: %v", err)
	}
	_, err = leaseAgent("/s/two", st).acquireLeases(ctx, LeaseOptions{})
	if !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("second agent on the same store: %v, want lease.ErrHeld", err)
	}
	for _, want := range []string{"/s/one", "--takeover", "host", "pid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}
	// Restarting the first agent (same state dir and source) is fine.
	if _, err := leaseAgent("/s/one", st).acquireLeases(ctx, LeaseOptions{}); err != nil {
		t.Fatalf("restart of the first agent: %v", err)
	}
}

// hungStore hangs every conditional call until up is set.
type hungStore struct {
	*mem.Store
	up    atomic.Bool
	calls atomic.Int64
}

func (h *hungStore) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	h.calls.Add(1)
	if !h.up.Load() {
		<-ctx.Done()
		return nil, "", ctx.Err()
	}
	return h.Store.GetVersion(ctx, key)
}

// plainStore hides mem's Swapper.
type plainStore struct{ backends.Store }

func TestLeaseHungStoreDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	good, hung, plain := mem.New(), &hungStore{Store: mem.New()}, plainStore{mem.New()}
	a := leaseAgent("/s/a", good, hung, plain)
	start := time.Now()
	ls, err := a.acquireLeases(ctx, LeaseOptions{AcquireTimeout: 100 * time.Millisecond, TTL: 3 * time.Second})
	if err != nil {
		t.Fatalf("start with a hung store: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("start-up waited %v for a hung store", d)
	}
	if err := ls.ready(ctx, good.String()); err != nil {
		t.Fatalf("good store: %v", err)
	}
	if err := ls.ready(ctx, plain.String()); err != nil {
		t.Fatalf("store without conditional writes must ship unguarded: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = ls.ready(wctx, hung.String())
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung store ready = %v, want to wait (no upload before its lease)", err)
	}
	hung.up.Store(true)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ls.run(runCtx) }()
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if err := ls.ready(rctx, hung.String()); err != nil {
		t.Fatalf("store back up: lease not acquired in the background: %v", err)
	}
	stop()
	<-done
	// run released the leases: another agent starts at once.
	if _, err := leaseAgent("/s/b", good, hung).acquireLeases(ctx, LeaseOptions{}); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestLeaseLossStopsStore(t *testing.T) {
	ctx := context.Background()
	st, other := mem.New(), mem.New()
	ls, err := leaseAgent("/s/a", st, other).acquireLeases(ctx, LeaseOptions{TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sl := ls.byID[st.String()]
	sl.mu.Lock()
	changed := sl.changed
	sl.mu.Unlock()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ls.run(runCtx) }()
	defer func() { stop(); <-done }()
	if _, err := leaseAgent("/s/b", st).acquireLeases(ctx, LeaseOptions{Takeover: true}); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	// The next renewal (TTL/3) of a lease in use finds the takeover.
	for deadline := time.After(10 * time.Second); ; {
		ls.writable(st.String())
		select {
		case <-changed:
		case <-time.After(20 * time.Millisecond):
			continue
		case <-deadline:
			t.Fatal("lease loss not noticed")
		}
		break
	}
	if err := ls.ready(ctx, st.String()); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("ready after loss = %v, want lease.ErrLost", err)
	}
	if err := ls.ready(ctx, other.String()); err != nil {
		t.Fatalf("the other store must keep shipping: %v", err)
	}
}

// A store that has not answered since start (its lease still pending)
// counts as degraded: the spool bound drops segments for it as a recorded
// gap instead of holding up the sealer, so the healthy store keeps
// shipping a backlog larger than the bound. When the store answers, it
// gets the lease and ships again on a new timeline.
func TestUnleasedStoreDoesNotHoldSpool(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	good, hung := mem.New(), &hungStore{Store: mem.New()}
	src.write(800, "a") // a backlog far over the 20 KiB spool bound
	r := startWith(t, src.dir, func(o *Options) {
		o.SpoolMaxBytes = 20 << 10
		o.Lease = LeaseOptions{AcquireTimeout: 100 * time.Millisecond, StartGrace: 50 * time.Millisecond, TTL: 3 * time.Second}
	}, good, hung)
	r.waitStoreShipped(t, 0, 800, 10*time.Second)
	st := r.a.Status().Stores[1]
	if !st.Degraded || len(st.Gaps) == 0 {
		t.Fatalf("store without its lease: %+v, want degraded with a gap", st)
	}
	hung.up.Store(true)
	src.write(20, "b")
	r.waitShipped(t, 1, 820)
	src.write(20, "c") // the first segment after the store is back starts timeline 2
	r.waitShipped(t, 2, 840)
	r.halt(t)
	restoreAndCompare(t, good, pitr.Target{Latest: true}, src.want, 1, 840)
}
