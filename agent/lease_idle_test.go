package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

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
