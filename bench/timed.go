package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/walship/walship/backends"
)

// timed is a backends.Store decorator that adds up the wall time spent in
// each kind of call (a Get until its reader is closed), to show how much of
// a run the store itself takes. Calls in parallel add up.
type timed struct {
	backends.Store
	put, get, stat, list atomic.Int64 // nanoseconds
}

func (t *timed) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	defer addSince(&t.put, time.Now())
	return t.Store.Put(ctx, key, r, size)
}

func (t *timed) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := t.Store.Get(ctx, key, offset, length)
	if err != nil {
		addSince(&t.get, start)
		return nil, err
	}
	return &timedReader{ReadCloser: rc, start: start, sum: &t.get}, nil
}

func (t *timed) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	defer addSince(&t.stat, time.Now())
	return t.Store.Stat(ctx, key)
}

func (t *timed) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	defer addSince(&t.list, time.Now())
	return t.Store.List(ctx, prefix, after, fn)
}

// times is a snapshot in seconds.
type times struct{ put, get, stat, list float64 }

func (t *timed) times() times {
	s := func(a *atomic.Int64) float64 { return time.Duration(a.Load()).Seconds() }
	return times{s(&t.put), s(&t.get), s(&t.stat), s(&t.list)}
}

func (t times) sub(u times) times {
	return times{t.put - u.put, t.get - u.get, t.stat - u.stat, t.list - u.list}
}

func (t times) String() string {
	return fmt.Sprintf("put %.2fs, get %.2fs, stat %.2fs, list %.2fs", t.put, t.get, t.stat, t.list)
}

type timedReader struct {
	io.ReadCloser
	start time.Time
	sum   *atomic.Int64
	done  atomic.Bool
}

func (r *timedReader) Close() error {
	err := r.ReadCloser.Close()
	if r.done.CompareAndSwap(false, true) {
		addSince(r.sum, r.start)
	}
	return err
}

func addSince(sum *atomic.Int64, start time.Time) { sum.Add(int64(time.Since(start))) }

// cpuSeconds is the user+system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
