package throttle

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// bucket is one token bucket (a rate.Limiter) with a priority scheduler in
// front of it.
//
// Waiters queue by priority, FIFO within a priority. Only the head of the
// queue (the oldest waiter of the highest priority present) may take tokens,
// and it takes them only when they are all there: nothing is reserved ahead
// of time. So a High waiter that arrives while a Low one waits for its tokens
// goes first, and a limit changed by set applies at once to everyone queued.
// One timer, armed for the moment the head's tokens will have accrued, drives
// the queue; enqueue, cancel and set re-run the same dispatch.
type bucket struct {
	clk clock

	mu     sync.Mutex
	lim    *rate.Limiter
	inf    bool // limit is rate.Inf: nobody ever queues
	queues [numPriorities][]*waiter
	timer  stopper

	// onEnqueue, when set (tests only), is called with mu held each time a
	// waiter has joined a queue and the queue has been dispatched (so the
	// timer is armed, or the waiter already served).
	onEnqueue func(Priority, int)
}

// waiter is one caller queued for n tokens. Fields other than n and ready
// are guarded by bucket.mu.
type waiter struct {
	n       int
	ready   chan struct{} // closed when granted
	granted bool
	at      time.Time // when granted
}

func newBucket(clk clock, l rate.Limit, burst int) *bucket {
	return &bucket{clk: clk, lim: rate.NewLimiter(l, burst), inf: l == rate.Inf}
}

// wait blocks until n tokens have been taken for a caller of priority p, or
// ctx is done. It returns how long the caller was queued; with a nil error
// the tokens are spent. An n above the burst is cut to the burst (callers
// size chunks by chunk(), so that only happens when a limit shrinks while
// they read). If ctx ends just as the tokens are granted, wait returns nil:
// the tokens are spent and the caller may as well use them.
func (b *bucket) wait(ctx context.Context, p Priority, n int) (time.Duration, error) {
	b.mu.Lock()
	if b.inf {
		b.mu.Unlock()
		return 0, nil
	}
	start := b.clk.Now()
	if b.headLocked() == nil && b.takeLocked(start, n) {
		b.mu.Unlock()
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		b.mu.Unlock()
		return 0, err
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	b.queues[p] = append(b.queues[p], w)
	b.dispatchLocked(start)
	if b.onEnqueue != nil {
		b.onEnqueue(p, n)
	}
	b.mu.Unlock()

	select {
	case <-w.ready:
		return w.at.Sub(start), nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted {
		return w.at.Sub(start), nil
	}
	b.queues[p] = slices.DeleteFunc(b.queues[p], func(x *waiter) bool { return x == w })
	now := b.clk.Now()
	b.dispatchLocked(now) // w may have been the head
	return now.Sub(start), ctx.Err()
}

// set changes the limit and burst; queued waiters are re-examined at once.
func (b *bucket) set(l rate.Limit, burst int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	b.lim.SetLimitAt(now, l)
	b.lim.SetBurstAt(now, burst)
	b.inf = l == rate.Inf
	b.dispatchLocked(now)
}

// chunk returns the most tokens one wait should ask for: the burst capped at
// MaxChunk, or 0 when the bucket is unlimited and reads need no cutting.
func (b *bucket) chunk() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inf {
		return 0
	}
	return min(MaxChunk, b.lim.Burst())
}

// queued returns how many callers wait (tests).
func (b *bucket) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queues[High]) + len(b.queues[Low])
}

func (b *bucket) headLocked() *waiter {
	for p := range b.queues {
		if len(b.queues[p]) > 0 {
			return b.queues[p][0]
		}
	}
	return nil
}

func (b *bucket) popLocked() {
	for p := range b.queues {
		if q := b.queues[p]; len(q) > 0 {
			q[0] = nil
			b.queues[p] = q[1:]
			return
		}
	}
}

func (b *bucket) takeLocked(now time.Time, n int) bool {
	return b.inf || b.lim.AllowN(now, min(n, b.lim.Burst()))
}

// dispatchLocked grants tokens to queued waiters in order for as long as
// they are there, then arms the timer for the head's tokens.
func (b *bucket) dispatchLocked(now time.Time) {
	if b.timer != nil {
		b.timer.Stop() // a run that already started is harmless: dispatch is idempotent
		b.timer = nil
	}
	for {
		w := b.headLocked()
		if w == nil {
			return
		}
		if b.takeLocked(now, w.n) {
			b.popLocked()
			w.granted, w.at = true, now
			close(w.ready)
			continue
		}
		b.timer = b.clk.AfterFunc(b.delayLocked(now, w.n), b.tick)
		return
	}
}

// delayLocked returns how long until n tokens will have accrued, rounded up
// so the timer never fires a hair early and has to re-arm.
func (b *bucket) delayLocked(now time.Time, n int) time.Duration {
	need := float64(min(n, b.lim.Burst())) - b.lim.TokensAt(now)
	d := math.Ceil(need / float64(b.lim.Limit()) * float64(time.Second))
	if d < 1 {
		return 1
	}
	if d > float64(math.MaxInt64) {
		return math.MaxInt64
	}
	return time.Duration(d)
}

func (b *bucket) tick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dispatchLocked(b.clk.Now())
}
