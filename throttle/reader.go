package throttle

import (
	"context"
	"fmt"
	"io"
)

// reader pays for every byte read from r on its chain, in chunks: each Read
// reads at most one chunk, then waits for that many tokens (reading first,
// as restic's limiter does, so a short read pays only for what it got).
type reader struct {
	ctx  context.Context
	r    io.Reader
	dir  direction
	p    Priority
	lims chain
}

func (r *reader) Read(b []byte) (int, error) {
	if c := r.lims.chunk(r.dir, r.p); c > 0 && len(b) > c {
		b = b[:c]
	}
	n, err := r.r.Read(b)
	if n > 0 {
		if werr := r.lims.wait(r.ctx, r.dir, r.p, n); werr != nil {
			// The bytes were read but not paid for: drop them. The
			// transfer is being abandoned, and a retry seeks anyway.
			return 0, fmt.Errorf("throttle %s: %w", r.dir, werr)
		}
	}
	return n, err
}

// readSeeker is a throttled Put body. Seek goes straight to the body and
// resets nothing: bytes read again after a seek back (a retry) are paid for
// again, as they cross the link again.
type readSeeker struct {
	reader
	s io.ReadSeeker // the body itself
}

func (r *readSeeker) Seek(offset int64, whence int) (int64, error) {
	return r.s.Seek(offset, whence)
}

// LocalBody implements backends.LocalBody: a store's digest pass before
// the upload reads the body unthrottled, since those bytes cross no link.
func (r *readSeeker) LocalBody() io.ReadSeeker { return r.s }

// readCloser is a throttled Get body.
type readCloser struct {
	reader
	c io.Closer
}

func (r *readCloser) Close() error { return r.c.Close() }

// Reader returns r throttled as download traffic: each Read waits on lims in
// order (pass the store's own Limiter, then the global one; nil entries are
// skipped) at the priority carried by ctx. It is for restore paths that read
// from something other than a NewStore store.
//
// Reads return at most MaxChunk bytes (less under a low limit) while any of
// lims limits downloads. When ctx ends during a wait, Read returns 0 and an
// error wrapping ctx.Err(). The returned reader is not safe for concurrent
// use, like most readers.
func Reader(ctx context.Context, r io.Reader, lims ...*Limiter) io.Reader {
	return &reader{ctx: ctx, r: r, dir: download, p: PriorityFrom(ctx), lims: newChain(lims...)}
}
