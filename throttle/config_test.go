package throttle

import (
	"context"
	"math"
	"testing"

	"golang.org/x/time/rate"
)

func TestByteLimitArithmetic(t *testing.T) {
	for _, c := range []struct {
		bps       int64
		limit     rate.Limit
		burst     int
		chunkHint int // what a bucket with this limit lets one read take
	}{
		{0, rate.Inf, MaxChunk, 0},
		{1, 1, MinBurst, MinBurst},
		{1024, 1024, MinBurst, MinBurst},
		{100 << 10, 100 << 10, 10240, 10240},     // a tenth of a second
		{100<<10 + 1, 100<<10 + 1, 10241, 10241}, // rounded up
		{1 << 20, 1 << 20, 104858, MaxChunk},     // chunk caps the read
		{50 << 20, 50 << 20, 5 << 20, MaxChunk},  // 5 MiB burst
		{math.MaxInt64, math.MaxInt64, math.MaxInt32, MaxChunk},
	} {
		l, b := byteLimit(c.bps)
		if l != c.limit || b != c.burst {
			t.Errorf("byteLimit(%d) = %v, %d; want %v, %d", c.bps, l, b, c.limit, c.burst)
		}
		if got := newBucket(realClock{}, l, b).chunk(); got != c.chunkHint {
			t.Errorf("chunk at %d B/s = %d, want %d", c.bps, got, c.chunkHint)
		}
	}
}

func TestRequestLimitArithmetic(t *testing.T) {
	for _, c := range []struct {
		rps   float64
		limit rate.Limit
		burst int
	}{
		{0, rate.Inf, 1},
		{0.5, 0.5, 1},
		{5, 5, 1},
		{100, 100, 10},
		{101, 101, 11},
	} {
		l, b := requestLimit(c.rps)
		if l != c.limit || b != c.burst {
			t.Errorf("requestLimit(%v) = %v, %d; want %v, %d", c.rps, l, b, c.limit, c.burst)
		}
	}
}

// The smallest burst on a transfer's path sizes its reads: the store's own,
// the global one, and for Low uploads the bulk cap.
func TestChainChunk(t *testing.T) {
	mk := func(c Config) *Limiter {
		l, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	store := mk(Config{UploadBytesPerSec: 100 << 10, BulkUploadBytesPerSec: 20 << 10})
	global := mk(Config{UploadBytesPerSec: 1 << 30, DownloadBytesPerSec: 50 << 10})
	c := newChain(store, nil, global)
	if len(c) != 2 {
		t.Fatalf("chain kept a nil: %d entries", len(c))
	}
	for _, x := range []struct {
		d    direction
		p    Priority
		want int
	}{
		{upload, High, 10240},
		{upload, Low, 2048},
		{download, High, 5120},
		{download, Low, 5120},
	} {
		if got := c.chunk(x.d, x.p); got != x.want {
			t.Errorf("chunk(%v, %v) = %d, want %d", x.d, x.p, got, x.want)
		}
	}
	if got := newChain().chunk(upload, High); got != 0 {
		t.Errorf("empty chain chunk = %d, want 0", got)
	}
}

func TestConfigValidate(t *testing.T) {
	good := []Config{{}, {UploadBytesPerSec: 1, DownloadBytesPerSec: 2, RequestsPerSec: 0.1, BulkUploadBytesPerSec: 3}}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []Config{
		{UploadBytesPerSec: -1},
		{DownloadBytesPerSec: -1},
		{BulkUploadBytesPerSec: -1},
		{RequestsPerSec: -1},
		{RequestsPerSec: math.NaN()},
		{RequestsPerSec: math.Inf(1)},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: accepted", c)
		}
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestPriorityFrom(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		ctx  context.Context
		want Priority
	}{
		{ctx, High},
		{WithPriority(ctx, Low), Low},
		{WithPriority(ctx, High), High},
		{WithPriority(WithPriority(ctx, Low), High), High},
		{WithPriority(ctx, Priority(7)), Low},
	} {
		if got := PriorityFrom(c.ctx); got != c.want {
			t.Errorf("PriorityFrom = %v, want %v", got, c.want)
		}
	}
	if High.String() != "high" || Low.String() != "low" {
		t.Errorf("names %q %q", High, Low)
	}
}
