package throttle

import (
	"context"
	"errors"
	"sync"
	"time"
)

// direction is what a bucket counts.
type direction int

const (
	upload direction = iota
	download
	requests
	numDirections
)

func (d direction) String() string {
	return [...]string{"upload", "download", "requests"}[d]
}

// Limiter is one set of limits: upload bytes/s, download bytes/s,
// requests/s, and a cap on bulk uploads. Make one global Limiter shared by
// every store and one per store; a transfer waits on its store's Limiter and
// then on the global one, so it gets the lower of the two rates and all
// stores together stay under the global one.
//
// A Limiter is safe for concurrent use. A nil *Limiter limits nothing.
type Limiter struct {
	upload, download, bulk, requests *bucket
	// paths[d][p] is the buckets direction d at priority p pays, in order.
	paths [numDirections][numPriorities][]*bucket

	mu  sync.Mutex // serialises Set, so cfg matches the buckets
	cfg Config

	stats counters
}

// New returns a Limiter enforcing cfg, or cfg's validation error.
func New(cfg Config) (*Limiter, error) { return newLimiter(cfg, realClock{}) }

func newLimiter(cfg Config, clk clock) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{cfg: cfg}
	ul, ub := byteLimit(cfg.UploadBytesPerSec)
	dl, db := byteLimit(cfg.DownloadBytesPerSec)
	bl, bb := byteLimit(cfg.BulkUploadBytesPerSec)
	rl, rb := requestLimit(cfg.RequestsPerSec)
	l.upload = newBucket(clk, ul, ub)
	l.download = newBucket(clk, dl, db)
	l.bulk = newBucket(clk, bl, bb)
	l.requests = newBucket(clk, rl, rb)
	// Bulk uploads pay their own cap first, so that while they wait on it
	// they hold no place in the shared upload queue.
	l.paths[upload] = [numPriorities][]*bucket{{l.upload}, {l.bulk, l.upload}}
	l.paths[download] = [numPriorities][]*bucket{{l.download}, {l.download}}
	l.paths[requests] = [numPriorities][]*bucket{{l.requests}, {l.requests}}
	return l, nil
}

// Set replaces the limits while the Limiter is in use. It applies at once,
// also to callers already waiting: a caller queued under a slow limit is
// re-timed under the new one, and switching a limit to 0 (unlimited)
// releases everyone queued on it. Tokens already spent stay spent. An
// invalid cfg is refused and the old limits stay.
func (l *Limiter) Set(cfg Config) error {
	if l == nil {
		return errors.New("throttle: Set on a nil Limiter")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = cfg
	l.upload.set(byteLimit(cfg.UploadBytesPerSec))
	l.download.set(byteLimit(cfg.DownloadBytesPerSec))
	l.bulk.set(byteLimit(cfg.BulkUploadBytesPerSec))
	l.requests.set(requestLimit(cfg.RequestsPerSec))
	return nil
}

// Config returns the limits in force (the zero Config for a nil Limiter).
func (l *Limiter) Config() Config {
	if l == nil {
		return Config{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// wait takes n tokens in direction d for priority p and records the wait.
func (l *Limiter) wait(ctx context.Context, d direction, p Priority, n int) error {
	var waited time.Duration
	var err error
	for _, b := range l.paths[d][p] {
		var w time.Duration
		w, err = b.wait(ctx, p, n)
		waited += w
		if err != nil {
			break
		}
	}
	passed := int64(n)
	if err != nil {
		passed = 0
	}
	l.stats.add(d, p, passed, int64(waited))
	return err
}

// chunk returns the largest read that direction d at priority p should make
// in one wait: the smallest burst on its buckets, capped at MaxChunk; 0 when
// none of them limits.
func (l *Limiter) chunk(d direction, p Priority) int {
	c := 0
	for _, b := range l.paths[d][p] {
		if n := b.chunk(); n > 0 && (c == 0 || n < c) {
			c = n
		}
	}
	return c
}

// chain is the Limiters a call pays, in order: the store's own, then the
// global one. It holds no nil entries.
type chain []*Limiter

func newChain(lims ...*Limiter) chain {
	var c chain
	for _, l := range lims {
		if l != nil {
			c = append(c, l)
		}
	}
	return c
}

func (c chain) wait(ctx context.Context, d direction, p Priority, n int) error {
	for _, l := range c {
		if err := l.wait(ctx, d, p, n); err != nil {
			return err
		}
	}
	return nil
}

func (c chain) chunk(d direction, p Priority) int {
	m := 0
	for _, l := range c {
		if n := l.chunk(d, p); n > 0 && (m == 0 || n < m) {
			m = n
		}
	}
	return m
}
