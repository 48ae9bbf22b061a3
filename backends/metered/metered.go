// Package metered is a backends.Store decorator that counts what passes
// through a store: calls per operation (put, get, stat, list, delete), how
// many of them failed, the objects a listing delivered, and the bytes
// uploaded and downloaded. Benchmarks and tests read the counts with
// Counts; nothing else about the store changes.
//
// The counts are of Store calls, not of the service's HTTP requests: one
// Put of a remote store may send a HEAD before its PUT, or a whole
// multipart upload; one List may fetch several pages (a generic decorator
// cannot see pages, so List counts calls and, separately, the objects it
// delivered). A zero-length Get may be answered with a Stat.
//
//	st := metered.New(s3store)
//	... use st wherever a backends.Store goes ...
//	c := st.Counts()
//	fmt.Println(c.Put.Calls, c.BytesUp)
package metered

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/walship/walship/backends"
)

// Op counts one kind of Store call.
type Op struct {
	Calls  int64 // calls made, including failed ones
	Errors int64 // calls that returned an error
}

// Counts is a snapshot of a Store's counters. Every field only grows, so
// the difference of two snapshots (Sub) is what happened in between.
type Counts struct {
	Put, Get, Stat, List, Delete Op

	// ListObjects is the number of objects List calls handed to their fn.
	ListObjects int64
	// BytesUp is the total size of the objects Put stored (successful
	// calls only: a refused, failed or cancelled Put stored nothing).
	BytesUp int64
	// BytesDown is the number of bytes callers read from readers returned
	// by Get (what was read, not what was asked for: a reader closed early
	// counts only the bytes read before).
	BytesDown int64
}

// Calls is the total number of Store calls of every operation.
func (c Counts) Calls() int64 {
	return c.Put.Calls + c.Get.Calls + c.Stat.Calls + c.List.Calls + c.Delete.Calls
}

// Errors is the total number of failed Store calls.
func (c Counts) Errors() int64 {
	return c.Put.Errors + c.Get.Errors + c.Stat.Errors + c.List.Errors + c.Delete.Errors
}

// Sub returns c minus prev, field by field: the activity between two
// snapshots of the same Store.
func (c Counts) Sub(prev Counts) Counts {
	sub := func(a, b Op) Op { return Op{a.Calls - b.Calls, a.Errors - b.Errors} }
	return Counts{
		Put: sub(c.Put, prev.Put), Get: sub(c.Get, prev.Get), Stat: sub(c.Stat, prev.Stat),
		List: sub(c.List, prev.List), Delete: sub(c.Delete, prev.Delete),
		ListObjects: c.ListObjects - prev.ListObjects,
		BytesUp:     c.BytesUp - prev.BytesUp,
		BytesDown:   c.BytesDown - prev.BytesDown,
	}
}

// String is a one-line summary, e.g.
// "put 12 (0 err), get 30, stat 12, list 2 (40 objects), delete 0; up 1234 B, down 5678 B".
func (c Counts) String() string {
	var b strings.Builder
	op := func(name string, o Op) {
		fmt.Fprintf(&b, "%s %d", name, o.Calls)
		if o.Errors > 0 {
			fmt.Fprintf(&b, " (%d err)", o.Errors)
		}
	}
	op("put", c.Put)
	b.WriteString(", ")
	op("get", c.Get)
	b.WriteString(", ")
	op("stat", c.Stat)
	b.WriteString(", ")
	op("list", c.List)
	fmt.Fprintf(&b, " (%d objects), ", c.ListObjects)
	op("delete", c.Delete)
	fmt.Fprintf(&b, "; up %d B, down %d B", c.BytesUp, c.BytesDown)
	return b.String()
}

type opCounter struct{ calls, errors atomic.Int64 }

func (o *opCounter) done(err error) {
	if err != nil {
		o.errors.Add(1)
	}
}

func (o *opCounter) load() Op { return Op{Calls: o.calls.Load(), Errors: o.errors.Load()} }

// Store counts the calls made through it to the store it wraps. It is safe
// for concurrent use (the counters are atomic); see Counts for what a
// snapshot taken during concurrent calls shows.
type Store struct {
	inner backends.Store

	put, get, stat, list, del opCounter
	listObjects               atomic.Int64
	bytesUp, bytesDown        atomic.Int64
}

var (
	_ backends.Store   = (*Store)(nil)
	_ backends.Checker = (*Store)(nil)
)

// New wraps inner. The counters start at zero.
func New(inner backends.Store) *Store { return &Store{inner: inner} }

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() backends.Store { return s.inner }

// Counts returns a snapshot of the counters. Each field is exact at the
// moment it is read; while calls are in flight, a snapshot may show a call
// counted whose bytes are not yet (calls are counted when they start,
// errors and bytes as they happen).
func (s *Store) Counts() Counts {
	return Counts{
		Put: s.put.load(), Get: s.get.load(), Stat: s.stat.load(), List: s.list.load(), Delete: s.del.load(),
		ListObjects: s.listObjects.Load(),
		BytesUp:     s.bytesUp.Load(),
		BytesDown:   s.bytesDown.Load(),
	}
}

// Put implements backends.Store: it counts one put call, and an error if
// the wrapped Put fails; when it succeeds, size is added to BytesUp. The
// call, its arguments and its result are passed through unchanged, so the
// wrapped store's contract (atomic, create-only, durable on nil) holds.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	s.put.calls.Add(1)
	err := s.inner.Put(ctx, key, r, size)
	s.put.done(err)
	if err == nil {
		s.bytesUp.Add(size)
	}
	return err
}

// Get implements backends.Store: it counts one get call, and an error if
// the wrapped Get fails. The returned reader adds every byte the caller
// reads to BytesDown; closing it closes the wrapped reader. Errors are
// returned unchanged (errors.Is(err, backends.ErrNotFound) still holds).
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	s.get.calls.Add(1)
	rc, err := s.inner.Get(ctx, key, offset, length)
	s.get.done(err)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc: rc, n: &s.bytesDown}, nil
}

// Stat implements backends.Store: it counts one stat call, and an error if
// the wrapped Stat fails (a missing object counts as an error too), and
// returns the wrapped Stat's answer unchanged.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	s.stat.calls.Add(1)
	oi, err := s.inner.Stat(ctx, key)
	s.stat.done(err)
	return oi, err
}

// List implements backends.Store: it counts one list call however many
// pages the wrapped store fetches, and an error if List returns one
// (including fn's own error, which is passed back unchanged). Every object
// handed to fn adds one to ListObjects.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	s.list.calls.Add(1)
	err := s.inner.List(ctx, prefix, after, func(oi backends.ObjectInfo) error {
		s.listObjects.Add(1)
		return fn(oi)
	})
	s.list.done(err)
	return err
}

// Delete implements backends.Store: it counts one delete call, and an
// error if the wrapped Delete fails (deleting a missing key is not one).
func (s *Store) Delete(ctx context.Context, key string) error {
	s.del.calls.Add(1)
	err := s.inner.Delete(ctx, key)
	s.del.done(err)
	return err
}

// Check implements backends.Checker by calling the wrapped store's Check
// when it has one (nil otherwise), so storeurl-style start-up checks still
// reach the real store. It is not counted.
func (s *Store) Check(ctx context.Context) error {
	if c, ok := s.inner.(backends.Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// String implements backends.Store: the wrapped store's name, unchanged, so
// logs and the agent's per-store state see the same store.
func (s *Store) String() string { return s.inner.String() }

// Close implements backends.Store: it closes the wrapped store. The counts
// stay readable.
func (s *Store) Close() error { return s.inner.Close() }

// countingReader adds what is read through it to n.
type countingReader struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.rc.Read(p)
	if k > 0 {
		c.n.Add(int64(k))
	}
	return k, err
}

func (c *countingReader) Close() error { return c.rc.Close() }
