package throttle

import "time"

// clock is the time source of a bucket. Tests drive a fake one so the
// scheduler's decisions can be checked without sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed. Stop
	// prevents the call if it has not started; a call that already started
	// may still run, so f must be safe to run late.
	AfterFunc(d time.Duration, f func()) stopper
}

type stopper interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
