package agent

import (
	"context"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
)

// hanging holds every call until its context ends while hung is set: a
// server that accepts connections and never answers (SIGSTOP, a black hole).
type hanging struct {
	backends.Store
	hung atomic.Bool
}

func (h *hanging) wait(ctx context.Context) error {
	if !h.hung.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *hanging) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Store.Put(ctx, key, r, size)
}

func (h *hanging) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := h.wait(ctx); err != nil {
		return nil, err
	}
	return h.Store.Get(ctx, key, off, n)
}

func (h *hanging) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := h.wait(ctx); err != nil {
		return backends.ObjectInfo{}, err
	}
	return h.Store.Stat(ctx, key)
}

func (h *hanging) List(ctx context.Context, p, a string, fn func(backends.ObjectInfo) error) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.Store.List(ctx, p, a, fn)
}

func (h *hanging) String() string { return "hanging://" }

// waitStoreShipped waits until store i has entry idx, failing after bound.
func (r *running) waitStoreShipped(t *testing.T, i int, idx uint64, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		st := r.a.Status()
		if st.Stores[i].Shipped >= idx {
			return
		}
		select {
		case err := <-r.done:
			t.Fatalf("agent stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("store %d did not get entry %d within %s while another store hung: %+v", i, idx, bound, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A store that hangs, at a fresh start, mid-run and across a restart,
// never holds up the healthy one; it becomes degraded and, when it answers
// again, is reconciled to a complete, exact copy.
func TestHungStoreDoesNotStallHealthyOne(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	healthy := mem.New()
	h := &hanging{Store: mem.New()}
	h.hung.Store(true)
	bounded := deadline.New(h, deadline.Options{Op: 300 * time.Millisecond, Tick: 10 * time.Millisecond})
	state := filepath.Join(t.TempDir(), "state")
	start := func() *running {
		t.Helper()
		a, err := New(Options{WALDir: src.dir, StateDir: state, SealSize: 8 << 10, SealInterval: 50 * time.Millisecond,
			Stores: []Store{{Name: "healthy", Store: healthy}, {Name: "hung", Store: bounded}}, Logger: quietLogger(),
			RetryAttempts: 2, RetryBackoff: 10 * time.Millisecond, ReconcileMaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &running{a: a, stop: cancel, done: make(chan error, 1)}
		go func() { r.done <- a.Run(ctx) }()
		t.Cleanup(func() { r.halt(t) })
		return r
	}
	// The bound is generous for a loaded CI machine; without deadlines the
	// healthy store gets nothing at all while the other hangs.
	const bound = 5 * time.Second

	src.write(100, "a")
	r := start() // fresh: the existing-backup check of the hung store must not block
	r.waitStoreShipped(t, 0, 100, bound)
	src.write(100, "b")
	r.waitStoreShipped(t, 0, 200, bound)
	for !r.a.Status().Stores[1].Degraded {
		time.Sleep(10 * time.Millisecond)
	}
	r.halt(t)

	src.write(100, "c") // across a restart, still hung
	r = start()
	r.waitStoreShipped(t, 0, 300, bound)

	h.hung.Store(false) // it answers again: reconciled
	src.write(50, "d")
	r.waitStoreShipped(t, 1, 350, 30*time.Second)
	r.halt(t)
	restoreAndCompare(t, healthy, pitr.Target{Latest: true}, src.want, 1, 350)
	restoreAndCompare(t, h, pitr.Target{Latest: true}, src.want, 1, 350)
}
