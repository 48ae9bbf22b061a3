// Package deadline bounds every call to a Store in time. A store that
// accepts connections and never answers, or trickles bytes, makes its calls
// fail with ErrTimeout instead of holding its caller forever, so one hung
// store cannot stall the work of the others.
//
// The bounds are on progress, not on totals, so a large object on a slow but
// working link still goes through:
//
//	Stat, Delete, Check   the answer within Op
//	List                  the first key, and each next key, within Op
//	                      (time spent in the caller's fn does not count)
//	Get                   the answer within Op; each body Read within Op
//	                      (time between the caller's Reads does not count)
//	Put                   the next body read, or the answer after the last,
//	                      within Op; and the whole upload within
//	                      Op + size/MinRate of the store's time (time the
//	                      body reader itself blocks, e.g. on a rate limit,
//	                      does not count)
//	Get bodies            after Op, at least MinRate on average
//
// Stack it directly on the store, inside the throttle decorator, so waits
// for rate-limit tokens are never taken for a hung store.
package deadline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/walship/walship/backends"
)

// ErrTimeout marks a call that a store did not answer, or answered too
// slowly, within its bounds. It is not permanent: the store may answer
// again later.
var ErrTimeout = errors.New("store did not answer in time")

// Options set the bounds. Zero values take the defaults noted.
type Options struct {
	// Op is how long a call may go without progress; default 30s.
	Op time.Duration
	// MinRate is the slowest average body throughput, in bytes/s, that
	// counts as working; default 64 KiB/s.
	MinRate int64
	// Tick is how often running calls are checked; default Op/20, at
	// least 10ms.
	Tick time.Duration
}

func (o Options) withDefaults() Options {
	if o.Op <= 0 {
		o.Op = 30 * time.Second
	}
	if o.MinRate <= 0 {
		o.MinRate = 64 << 10
	}
	if o.Tick <= 0 {
		o.Tick = max(o.Op/20, 10*time.Millisecond)
	}
	return o
}

// Store is the decorator made by New.
type Store struct {
	inner backends.Store
	opt   Options
}

var (
	_ backends.Store   = (*Store)(nil)
	_ backends.Checker = (*Store)(nil)
)

// New returns inner with every call bounded as the package doc says.
func New(inner backends.Store, opt Options) *Store {
	return &Store{inner: inner, opt: opt.withDefaults()}
}

// Unwrap returns the decorated store.
func (s *Store) Unwrap() backends.Store { return s.inner }

// Put implements backends.Store.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	w, wctx := s.watch(ctx, s.opt.Op+time.Duration(float64(size)/float64(s.opt.MinRate)*float64(time.Second)))
	defer w.stop()
	err := s.inner.Put(wctx, key, &body{r: r, w: w}, size)
	return s.result(ctx, w, "put", key, err)
}

// Get implements backends.Store.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	w, wctx := startWatch(ctx, s.opt.Op, 0, s.opt.MinRate, s.opt.Tick)
	rc, err := s.inner.Get(wctx, key, offset, length)
	if err != nil {
		w.stop()
		return nil, s.result(ctx, w, "get", key, err)
	}
	w.pause() // the caller's pace between Reads is not the store's
	return &getBody{rc: rc, w: w, s: s, ctx: ctx, key: key}, nil
}

// Stat implements backends.Store.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	w, wctx := s.watch(ctx, 0)
	defer w.stop()
	oi, err := s.inner.Stat(wctx, key)
	return oi, s.result(ctx, w, "stat", key, err)
}

// List implements backends.Store.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	w, wctx := s.watch(ctx, 0)
	defer w.stop()
	err := s.inner.List(wctx, prefix, after, func(oi backends.ObjectInfo) error {
		w.pause()
		defer w.resume(0)
		return fn(oi)
	})
	return s.result(ctx, w, "list", prefix, err)
}

// Delete implements backends.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	w, wctx := s.watch(ctx, 0)
	defer w.stop()
	return s.result(ctx, w, "delete", key, s.inner.Delete(wctx, key))
}

// Check implements backends.Checker: inner's Check within Op, or nil when
// inner has none.
func (s *Store) Check(ctx context.Context) error {
	c, ok := s.inner.(backends.Checker)
	if !ok {
		return nil
	}
	w, wctx := s.watch(ctx, 0)
	defer w.stop()
	return s.result(ctx, w, "check", "", c.Check(wctx))
}

// String returns inner's name.
func (s *Store) String() string { return s.inner.String() }

// Close closes inner.
func (s *Store) Close() error { return s.inner.Close() }

func (s *Store) watch(ctx context.Context, budget time.Duration) (*watch, context.Context) {
	return startWatch(ctx, s.opt.Op, budget, 0, s.opt.Tick)
}

// result turns the error of a call the watch cut short into an ErrTimeout
// that names the store, the operation and the object. It does not wrap the
// inner error: that is a cancellation, which callers take as final.
func (s *Store) result(ctx context.Context, w *watch, op, key string, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if why := w.why(); why != "" {
		obj := key
		if obj != "" {
			obj = " " + obj
		}
		return fmt.Errorf("%s%s in %s: %w: %s", op, obj, s.inner, ErrTimeout, why)
	}
	return err
}

// body is a Put body: reads from it are progress; time inside the caller's
// reader (a rate limit, a local disk) is not the store's.
type body struct {
	r io.ReadSeeker
	w *watch
}

func (b *body) Read(p []byte) (int, error) {
	b.w.pause()
	n, err := b.r.Read(p)
	b.w.resume(n)
	return n, err
}

func (b *body) Seek(off int64, whence int) (int64, error) { return b.r.Seek(off, whence) }

// LocalBody implements backends.LocalBody: a pass that sends nothing is
// not the transfer's progress.
func (b *body) LocalBody() io.ReadSeeker { return b.r }

// getBody bounds each Read of a Get body.
type getBody struct {
	rc  io.ReadCloser
	w   *watch
	s   *Store
	ctx context.Context
	key string
}

func (g *getBody) Read(p []byte) (int, error) {
	g.w.resume(0)
	n, err := g.rc.Read(p)
	g.w.pause()
	g.w.progress(n)
	if err != nil && err != io.EOF {
		err = g.s.result(g.ctx, g.w, "get", g.key, err)
	}
	return n, err
}

func (g *getBody) Close() error {
	err := g.rc.Close()
	g.w.stop()
	return err
}
