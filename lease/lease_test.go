package lease

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/mem"
)

func stores(t *testing.T) map[string]func(t *testing.T) backends.Store {
	return map[string]func(t *testing.T) backends.Store{
		"mem": func(*testing.T) backends.Store { return mem.New() },
		"file": func(t *testing.T) backends.Store {
			s, err := file.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

var (
	agentA  = Info{Host: "host-a", PID: 100, StateDir: "/s/a.walship", Source: "/db/a/wal"}
	agentB  = Info{Host: "host-b", PID: 200, StateDir: "/s/b.walship", Source: "/db/b/wal"}
	agentA2 = Info{Host: "host-a", PID: 101, StateDir: "/s/a.walship", Source: "/db/a/wal"} // A restarted
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }

func TestSecondAgentRefused(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := mk(t)
			c := newClock()
			a, err := acquire(ctx, st, agentA, time.Minute, false, c.now)
			if err != nil {
				t.Fatalf("A acquires a free store: %v", err)
			}
			_, err = acquire(ctx, st, agentB, time.Minute, false, c.now)
			var held *HeldError
			if !errors.As(err, &held) || !errors.Is(err, ErrHeld) {
				t.Fatalf("B on A's store: %v, want a HeldError", err)
			}
			msg := err.Error()
			for _, want := range []string{"host-a", "pid 100", "2026-11-30T12:01:00Z", "--takeover", st.String()} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal %q does not name %q", msg, want)
				}
			}
			if held.Holder != agentA {
				t.Fatalf("holder %+v, want %+v", held.Holder, agentA)
			}
			// A renews: still A's, later expiry.
			c.add(20 * time.Second)
			if err := a.Renew(ctx); err != nil {
				t.Fatalf("renew: %v", err)
			}
			if got := a.Expires(); !got.Equal(c.now().Add(time.Minute)) {
				t.Fatalf("expires %v after renewal, want %v", got, c.now().Add(time.Minute))
			}
			c.add(50 * time.Second) // past the first expiry, not the renewed one
			if _, err := acquire(ctx, st, agentB, time.Minute, false, c.now); !errors.Is(err, ErrHeld) {
				t.Fatalf("B after A renewed: %v, want ErrHeld", err)
			}
			select {
			case <-a.Lost():
				t.Fatal("A's lease reported lost though nobody took it")
			default:
			}
		})
	}
}

func TestExpiredLeaseTakenOver(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	c := newClock()
	a, err := acquire(ctx, st, agentA, time.Minute, false, c.now)
	if err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute) // A stopped renewing
	b, err := acquire(ctx, st, agentB, time.Minute, false, c.now)
	if err != nil {
		t.Fatalf("B on an expired lease: %v", err)
	}
	err = a.Renew(ctx)
	if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "host-b") {
		t.Fatalf("A renews after B took over: %v, want ErrLost naming host-b", err)
	}
	select {
	case <-a.Lost():
	default:
		t.Fatal("Lost not closed")
	}
	if !errors.Is(a.Err(), ErrLost) {
		t.Fatalf("Err = %v", a.Err())
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("release of a lost lease: %v", err)
	}
	if err := b.Renew(ctx); err != nil {
		t.Fatalf("B renews: %v (A's release must not touch B's lease)", err)
	}
}

func TestTakeoverAndRestart(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	c := newClock()
	a, err := acquire(ctx, st, agentA, time.Minute, false, c.now)
	if err != nil {
		t.Fatal(err)
	}
	// A restart of A (new pid, same host, state dir and source) needs no flag.
	a2, err := acquire(ctx, st, agentA2, time.Minute, false, c.now)
	if err != nil {
		t.Fatalf("restarted A: %v", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("the old A renews after its restart took over: %v, want ErrLost", err)
	}
	// B with --takeover replaces a live lease.
	b, err := acquire(ctx, st, agentB, time.Minute, true, c.now)
	if err != nil {
		t.Fatalf("B --takeover: %v", err)
	}
	if err := a2.Renew(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("A2 renews after B's takeover: %v, want ErrLost", err)
	}
	// B releases: A may start at once.
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Renew(ctx); err == nil {
		t.Fatal("renewal of a released lease succeeded")
	}
	if _, err := acquire(ctx, st, agentA, time.Minute, false, c.now); err != nil {
		t.Fatalf("A after B released: %v", err)
	}
}

func TestConcurrentAcquireOneWins(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := mk(t)
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					info := Info{Host: "h", PID: i, StateDir: "/s/" + string(rune('a'+i)), Source: "/db"}
					_, errs[i] = Acquire(context.Background(), st, info, time.Minute, false)
				}()
			}
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrHeld):
					t.Fatalf("agent %d: %v, want nil or ErrHeld", i, err)
				}
			}
			if won != 1 {
				t.Fatalf("%d agents hold the lease, want exactly 1", won)
			}
		})
	}
}

func TestUnreadableLease(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	junk := []byte("not json")
	if err := st.Put(ctx, Key, bytes.NewReader(junk), int64(len(junk))); err != nil {
		t.Fatal(err)
	}
	_, err := Acquire(ctx, st, agentA, time.Minute, false)
	if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "--takeover") {
		t.Fatalf("acquire over junk: %v, want an error suggesting --takeover", err)
	}
	if _, err := Acquire(ctx, st, agentA, time.Minute, true); err != nil {
		t.Fatalf("acquire --takeover over junk: %v", err)
	}
}

// plain hides the store's Swapper.
type plain struct{ backends.Store }

func TestUnsupportedStore(t *testing.T) {
	_, err := Acquire(context.Background(), plain{mem.New()}, agentA, time.Minute, false)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("acquire on a store without Swapper: %v, want ErrUnsupported", err)
	}
}

// lossy lands its next PutIf but reports a timeout, as a reply lost on the
// network would.
type lossy struct {
	*mem.Store
	mu   sync.Mutex
	drop bool
}

func (l *lossy) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	v, err := l.Store.PutIf(ctx, key, r, size, match)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.drop {
		l.drop = false
		return "", context.DeadlineExceeded
	}
	return v, err
}

func TestRenewAnswerLost(t *testing.T) {
	ctx := context.Background()
	st := &lossy{Store: mem.New()}
	a, err := Acquire(ctx, st, agentA, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.drop = true
	st.mu.Unlock()
	if err := a.Renew(ctx); err == nil || errors.Is(err, ErrLost) {
		t.Fatalf("renew with a lost answer: %v, want a plain failure", err)
	}
	// The write landed; the next renewal must recognise it as ours.
	if err := a.Renew(ctx); err != nil {
		t.Fatalf("renew after a lost answer: %v", err)
	}
	if _, err := Acquire(ctx, st, agentB, time.Minute, false); !errors.Is(err, ErrHeld) {
		t.Fatalf("B: %v, want ErrHeld", err)
	}
}

// hung never answers until its context ends.
type hung struct{ *mem.Store }

func (hung) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	<-ctx.Done()
	return nil, "", ctx.Err()
}

func TestHungStoreBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Acquire(ctx, hung{mem.New()}, agentA, time.Minute, false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a hung store: %v, want a deadline error", err)
	}
}
