package deadline_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/mem"
)

// hung is a store whose every call waits for its context: a server that
// accepted the connection and never answers.
type hung struct{ backends.Store }

func (hung) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hung) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (hung) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	<-ctx.Done()
	return backends.ObjectInfo{}, ctx.Err()
}
func (hung) List(ctx context.Context, p, a string, fn func(backends.ObjectInfo) error) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hung) Delete(ctx context.Context, key string) error { <-ctx.Done(); return ctx.Err() }
func (hung) Check(ctx context.Context) error              { <-ctx.Done(); return ctx.Err() }
func (hung) String() string                               { return "hung://" }

var opt = deadline.Options{Op: 200 * time.Millisecond, Tick: 10 * time.Millisecond}

func wantTimeout(t *testing.T, what string, start time.Time, err error) {
	t.Helper()
	if !errors.Is(err, deadline.ErrTimeout) {
		t.Fatalf("%s: want ErrTimeout, got %v", what, err)
	}
	if backends.IsPermanent(err) {
		t.Fatalf("%s: a timeout must be retryable, IsPermanent says yes: %v", what, err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatalf("%s: a timeout must not read as a cancellation: %v", what, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("%s: took %s to give up, bound is %s", what, d, opt.Op)
	}
	if !strings.Contains(err.Error(), "hung://") {
		t.Fatalf("%s: error does not name the store: %v", what, err)
	}
}

func TestHungStoreEveryCallTimesOut(t *testing.T) {
	s := deadline.New(hung{}, opt)
	ctx := context.Background()
	calls := map[string]func() error{
		"put":    func() error { return s.Put(ctx, "k", bytes.NewReader([]byte("x")), 1) },
		"get":    func() error { _, err := s.Get(ctx, "k", 0, -1); return err },
		"stat":   func() error { _, err := s.Stat(ctx, "k"); return err },
		"list":   func() error { return s.List(ctx, "", "", func(backends.ObjectInfo) error { return nil }) },
		"delete": func() error { return s.Delete(ctx, "k") },
		"check":  func() error { return s.Check(ctx) },
	}
	for name, call := range calls {
		start := time.Now()
		wantTimeout(t, name, start, call())
	}
}

func TestCallerCancelIsNotATimeout(t *testing.T) {
	s := deadline.New(hung{}, deadline.Options{Op: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Stat(ctx, "k")
	if errors.Is(err, deadline.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the caller's own deadline: want its error back, got %v", err)
	}
}

// slowReader blocks in every Read, as a rate-limited or local body does.
type slowReader struct {
	r     io.ReadSeeker
	delay time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.r.Read(p[:min(len(p), 64)])
}
func (s *slowReader) Seek(o int64, w int) (int64, error) { return s.r.Seek(o, w) }

func TestSlowCallerBodyIsNotTheStoresFault(t *testing.T) {
	m := mem.New()
	s := deadline.New(m, opt)
	data := bytes.Repeat([]byte("a"), 64*8) // 8 reads of 100ms each: 4x Op in the caller's reader
	err := s.Put(context.Background(), "k", &slowReader{r: bytes.NewReader(data), delay: 100 * time.Millisecond}, int64(len(data)))
	if err != nil {
		t.Fatalf("put with a slow caller-side body: %v", err)
	}
	rc, err := s.Get(context.Background(), "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 64)
	var got []byte
	for {
		time.Sleep(100 * time.Millisecond) // the caller dawdles between reads
		n, err := rc.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("get body with a slow caller: %v", err)
		}
		if len(got) >= 4*64 {
			break
		}
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("get body differs")
	}
}

func TestListCallbackTimeDoesNotCount(t *testing.T) {
	m := mem.New()
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Put(context.Background(), k, bytes.NewReader(nil), 0); err != nil {
			t.Fatal(err)
		}
	}
	s := deadline.New(m, opt)
	n := 0
	err := s.List(context.Background(), "", "", func(backends.ObjectInfo) error {
		time.Sleep(150 * time.Millisecond)
		n++
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("list with a slow callback: %d keys, %v", n, err)
	}
}

// trickle is a Get body that yields one byte per delay.
type trickle struct {
	backends.Store
	delay time.Duration
}

func (t trickle) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(readerFunc(func(p []byte) (int, error) {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(t.delay):
			p[0] = 'x'
			return 1, nil
		}
	})), nil
}
func (trickle) String() string { return "hung://trickle" }

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestTricklingBodyFailsTheRateFloor(t *testing.T) {
	// Each byte arrives well within Op, so only the floor catches it.
	s := deadline.New(trickle{delay: 20 * time.Millisecond}, deadline.Options{Op: 200 * time.Millisecond, MinRate: 1024, Tick: 10 * time.Millisecond})
	rc, err := s.Get(context.Background(), "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	start := time.Now()
	_, err = io.Copy(io.Discard, rc)
	wantTimeout(t, "trickling get body", start, err)
}

func TestPutSlowerThanFloorFails(t *testing.T) {
	// The store reads the body at 1 byte per 20ms (50 B/s) against a floor
	// of 1 KiB/s: the budget is Op + size/MinRate.
	st := slowConsumer{delay: 20 * time.Millisecond}
	s := deadline.New(st, deadline.Options{Op: 200 * time.Millisecond, MinRate: 1024, Tick: 10 * time.Millisecond})
	data := bytes.Repeat([]byte("z"), 256)
	start := time.Now()
	err := s.Put(context.Background(), "k", bytes.NewReader(data), int64(len(data)))
	wantTimeout(t, "slow put", start, err)
}

// slowConsumer reads a Put body one byte at a time, slowly: a store on a
// link that trickles.
type slowConsumer struct {
	backends.Store
	delay time.Duration
}

func (s slowConsumer) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	b := make([]byte, 1)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.delay):
		}
		if _, err := r.Read(b); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}
func (slowConsumer) String() string { return "hung://slow" }

func TestHealthyCallsPass(t *testing.T) {
	s := deadline.New(mem.New(), opt)
	ctx := context.Background()
	data := []byte("hello")
	if err := s.Put(ctx, "a/b", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/b", bytes.NewReader(data), int64(len(data))); !backends.IsExists(err) {
		t.Fatalf("second put: want ErrExists through the decorator, got %v", err)
	}
	rc, err := s.Get(ctx, "a/b", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %q %v", got, err)
	}
	if _, err := s.Stat(ctx, "nope"); !backends.IsNotFound(err) {
		t.Fatalf("stat of a missing key: want ErrNotFound, got %v", err)
	}
}

func TestSwapPassesThrough(t *testing.T) {
	s := deadline.New(mem.New(), opt)
	sw, ok := backends.AsSwapper(s)
	if !ok {
		t.Fatal("the decorator hides the store's Swapper")
	}
	v, err := sw.PutIf(context.Background(), "lease.json", bytes.NewReader([]byte("a")), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.PutIf(context.Background(), "lease.json", bytes.NewReader([]byte("b")), 1, "other"); !backends.IsConflict(err) {
		t.Fatalf("a stale version: want ErrConflict through the decorator, got %v", err)
	}
	b, v2, err := sw.GetVersion(context.Background(), "lease.json")
	if err != nil || string(b) != "a" || v2 != v {
		t.Fatalf("get-version: %q %q %v (want version %q)", b, v2, err, v)
	}
	_, _, err = deadline.New(hung{}, opt).GetVersion(context.Background(), "lease.json")
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("a store without swaps: want ErrUnsupported, got %v", err)
	}
}
