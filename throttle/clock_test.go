package throttle

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told. Advance runs due timers in
// the calling goroutine, in deadline order, so a test knows that every grant
// a tick makes has happened when Advance returns.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.removeLocked(t)
}

func (c *fakeClock) removeLocked(t *fakeTimer) bool {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves time forward by d and fires every timer due by then,
// including ones armed by those it fires.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	for {
		var due *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(c.now) && (due == nil || t.at.Before(due.at)) {
				due = t
			}
		}
		if due == nil {
			break
		}
		c.removeLocked(due)
		c.mu.Unlock()
		due.f()
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// pending returns how many timers are armed.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// within fails the test if f does not return in a generous time. It guards
// against a hang, it does not measure anything.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// recv is within for a channel receive.
func recv[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
	panic("unreachable")
}

func TestFakeClockFiresInOrder(t *testing.T) {
	c := newFakeClock()
	var got []int
	c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	c.AfterFunc(time.Second, func() {
		got = append(got, 1)
		c.AfterFunc(0, func() { got = append(got, 10) })
	})
	stop := c.AfterFunc(time.Second, func() { got = append(got, -1) })
	if !stop.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	c.Advance(1500 * time.Millisecond)
	c.Advance(time.Second)
	if want := []int{1, 10, 2}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("fired %v, want %v", got, want)
	}
}
