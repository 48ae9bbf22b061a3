package throttle

import (
	"context"
	"fmt"
	"io"

	"github.com/walship/walship/backends"
)

// throttledStore is the Store decorator made by NewStore.
type throttledStore struct {
	inner backends.Store
	lims  chain
}

var (
	_ backends.Store   = (*throttledStore)(nil)
	_ backends.Checker = (*throttledStore)(nil)
)

// NewStore returns inner with limits: every call (Put, Get, Stat, List,
// Delete, Check) first takes one request token, Put bodies pay upload
// tokens and Get bodies download tokens, each on store (the store's own
// Limiter) and then on global (shared by all stores). Either may be nil.
// Calls and bytes wait at the priority carried by their ctx (PriorityFrom).
//
// The result keeps the Store contract. A wait that ctx ends returns an error
// naming the operation and key and wrapping ctx.Err(); a body read that ctx
// ends fails the same way inside inner, which then leaves no object. Put
// bodies stay seekable, and a seek back (a retry by inner) pays again for
// the bytes re-read. A Get body keeps paying with Get's ctx until closed.
// One List call costs one request token however many pages it lists.
//
// Stack it inside a retry decorator, so that each attempt pays its own
// request token as well as its bytes.
func NewStore(inner backends.Store, store, global *Limiter) backends.Store {
	return &throttledStore{inner: inner, lims: newChain(store, global)}
}

func (s *throttledStore) request(ctx context.Context) error {
	return s.lims.wait(ctx, requests, PriorityFrom(ctx), 1)
}

// Put implements backends.Store.
func (s *throttledStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := s.request(ctx); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	body := &readSeeker{
		reader: reader{ctx: ctx, r: r, dir: upload, p: PriorityFrom(ctx), lims: s.lims},
		s:      r,
	}
	return s.inner.Put(ctx, key, body, size)
}

// Get implements backends.Store.
func (s *throttledStore) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := s.request(ctx); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	rc, err := s.inner.Get(ctx, key, offset, length)
	if err != nil {
		return nil, err
	}
	return &readCloser{
		reader: reader{ctx: ctx, r: rc, dir: download, p: PriorityFrom(ctx), lims: s.lims},
		c:      rc,
	}, nil
}

// Stat implements backends.Store.
func (s *throttledStore) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := s.request(ctx); err != nil {
		return backends.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return s.inner.Stat(ctx, key)
}

// List implements backends.Store.
func (s *throttledStore) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := s.request(ctx); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return s.inner.List(ctx, prefix, after, fn)
}

// Delete implements backends.Store.
func (s *throttledStore) Delete(ctx context.Context, key string) error {
	if err := s.request(ctx); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return s.inner.Delete(ctx, key)
}

// Check implements backends.Checker: it takes a request token and runs
// inner's Check, or returns nil when inner has none.
func (s *throttledStore) Check(ctx context.Context) error {
	c, ok := s.inner.(backends.Checker)
	if !ok {
		return nil
	}
	if err := s.request(ctx); err != nil {
		return fmt.Errorf("check %s: %w", s.inner, err)
	}
	return c.Check(ctx)
}

// String returns inner's name: limits do not change which store it is.
func (s *throttledStore) String() string { return s.inner.String() }

// Close closes inner. The Limiters are not closed: they own no resources
// and may be shared with other stores.
func (s *throttledStore) Close() error { return s.inner.Close() }
