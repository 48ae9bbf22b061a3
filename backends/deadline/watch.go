package deadline

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// watch cancels one call's context when the store makes no progress for
// idle, when the call's store time passes budget (if set), or when a body
// averages less than rate bytes/s after the first idle period (if set).
// Store time excludes paused spans: time in the caller's code.
type watch struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	idle   time.Duration
	budget time.Duration
	rate   int64

	mu         sync.Mutex
	start      time.Time
	last       time.Time // last progress, or the end of the last pause
	paused     int
	pauseStart time.Time
	pausedFor  time.Duration
	bytes      int64
	reason     string // why the call was cut short; "" while it runs
}

func startWatch(ctx context.Context, idle, budget time.Duration, rate int64, tick time.Duration) (*watch, context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	now := time.Now()
	w := &watch{cancel: cancel, done: make(chan struct{}), idle: idle, budget: budget, rate: rate, start: now, last: now}
	go w.loop(tick)
	return w, wctx
}

func (w *watch) loop(tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case now := <-t.C:
			if why := w.check(now); why != "" {
				w.cancel()
				return
			}
		}
	}
}

// check decides, at now, whether the call has run out of time.
func (w *watch) check(now time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused > 0 {
		return ""
	}
	active := now.Sub(w.start) - w.pausedFor
	switch {
	case now.Sub(w.last) > w.idle:
		w.reason = fmt.Sprintf("no answer for %s", w.idle.Round(time.Millisecond))
	case w.budget > 0 && active > w.budget:
		w.reason = fmt.Sprintf("not done after %s of transfer (slower than the floor)", active.Round(time.Second))
	case w.rate > 0 && active > w.idle && float64(w.bytes) < float64(w.rate)*(active-w.idle).Seconds():
		w.reason = fmt.Sprintf("%d bytes in %s, under the floor of %d bytes/s", w.bytes, active.Round(time.Second), w.rate)
	}
	return w.reason
}

// pause stops the clocks: the caller's code runs.
func (w *watch) pause() {
	w.mu.Lock()
	if w.paused == 0 {
		w.pauseStart = time.Now()
	}
	w.paused++
	w.mu.Unlock()
}

// resume restarts the clocks after pause; n bytes moved.
func (w *watch) resume(n int) {
	w.mu.Lock()
	if w.paused > 0 {
		w.paused--
		if w.paused == 0 {
			now := time.Now()
			w.pausedFor += now.Sub(w.pauseStart)
			w.last = now
		}
	}
	w.bytes += int64(n)
	w.mu.Unlock()
}

// progress records n bytes that arrived.
func (w *watch) progress(n int) {
	if n == 0 {
		return
	}
	w.mu.Lock()
	w.bytes += int64(n)
	w.last = time.Now()
	w.mu.Unlock()
}

// why returns why the watch cut the call short, or "".
func (w *watch) why() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reason
}

// stop ends the watch and releases the call's context.
func (w *watch) stop() {
	w.once.Do(func() {
		close(w.done)
		w.cancel()
	})
}
