package pitr

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// Progress is told how far a restore, copy or verify has got, for a person
// watching (the CLI draws it). Its methods are called from several
// goroutines at once, on the data path: they must be cheap (a counter add)
// and never block.
type Progress interface {
	// Total says how many objects and bytes the whole operation handles,
	// once that is known (from the plan or the listing). Called at most
	// once, before the first Add.
	Total(objects, bytes int64)
	// Add counts objects finished and their bytes. The sums of all Adds
	// equal the totals when the operation succeeds.
	Add(objects, bytes int64)
}

// noProgress is the Progress of a caller that wants none.
type noProgress struct{}

func (noProgress) Total(int64, int64) {}
func (noProgress) Add(int64, int64)   {}

func progressOr(p Progress) Progress {
	if p == nil {
		return noProgress{}
	}
	return p
}

// countedChunks counts every chunk read through it as one object of the
// bytes read, when its reader is closed: what a base snapshot's restore
// fetches, one Get per chunk reference.
type countedChunks struct {
	backends.Store
	prog Progress
}

func countChunks(st backends.Store, prog Progress) backends.Store {
	if _, ok := prog.(noProgress); ok {
		return st
	}
	return &countedChunks{Store: st, prog: prog}
}

func (c *countedChunks) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := c.Store.Get(ctx, key, offset, length)
	if err != nil {
		return nil, err
	}
	if _, perr := segments.ParseChunkKey(key); perr != nil {
		return rc, nil
	}
	return &countedReader{ReadCloser: rc, prog: c.prog}, nil
}

type countedReader struct {
	io.ReadCloser
	prog   Progress
	n      int64
	closed atomic.Bool
}

func (r *countedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n += int64(n)
	return n, err
}

func (r *countedReader) Close() error {
	if !r.closed.Swap(true) {
		r.prog.Add(1, r.n)
	}
	return r.ReadCloser.Close()
}
