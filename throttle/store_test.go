package throttle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/storetest"
)

func TestStoreConformance(t *testing.T) {
	// Limits high enough to keep the suite quick, low enough that the
	// bigger bodies go through real waits and timers.
	global, err := New(Config{UploadBytesPerSec: 256 << 20, DownloadBytesPerSec: 512 << 20, RequestsPerSec: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{UploadBytesPerSec: 128 << 20, DownloadBytesPerSec: 256 << 20, RequestsPerSec: 1e5, BulkUploadBytesPerSec: 64 << 20}
	newStore := func(t *testing.T) backends.Store {
		store, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return NewStore(mem.New(), store, global)
	}
	t.Run("High", func(t *testing.T) { storetest.Run(t, newStore, storetest.Options{}) })
	t.Run("Low", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) backends.Store { return lowStore{newStore(t)} }, storetest.Options{ListKeys: 300})
	})
	if st := global.Stats(); st.Upload.High.N == 0 || st.Upload.Low.N == 0 || st.Requests.Low.N == 0 {
		t.Fatalf("global limiter saw no traffic: %+v", st)
	}
}

// lowStore makes every call Low priority, as bulk callers do.
type lowStore struct{ backends.Store }

func low(ctx context.Context) context.Context { return WithPriority(ctx, Low) }

func (s lowStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	return s.Store.Put(low(ctx), key, r, size)
}
func (s lowStore) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	return s.Store.Get(low(ctx), key, off, n)
}
func (s lowStore) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	return s.Store.Stat(low(ctx), key)
}
func (s lowStore) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	return s.Store.List(low(ctx), prefix, after, fn)
}
func (s lowStore) Delete(ctx context.Context, key string) error {
	return s.Store.Delete(low(ctx), key)
}

// retryStore reads every Put body once, seeks back and hands it to mem, as a
// store retrying a failed attempt would.
type retryStore struct{ *mem.Store }

func (s retryStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return s.Store.Put(ctx, key, r, size)
}

// digestStore reads the local body whole first, as a cloud store computes
// the digest it sends with an upload, then stores the body.
type digestStore struct{ *mem.Store }

func (s digestStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	local := backends.Local(r)
	if local == r {
		return errors.New("the throttled body offers no local body")
	}
	if _, err := io.Copy(io.Discard, local); err != nil {
		return err
	}
	if _, err := local.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return s.Store.Put(ctx, key, r, size)
}

// A pass over the local body before the upload (a digest) sends nothing:
// the body is paid for once, as it goes out.
func TestDigestPassIsNotPaid(t *testing.T) {
	const n = 1<<20 + 123
	cfg := Config{UploadBytesPerSec: 1 << 30, BulkUploadBytesPerSec: 1 << 30, RequestsPerSec: 1000}
	store, clk := frozen(t, cfg)
	s := NewStore(digestStore{mem.New()}, store, nil)
	within(t, "put", func() {
		if err := s.Put(context.Background(), "k", bytes.NewReader(make([]byte, n)), n); err != nil {
			t.Error(err)
		}
	})
	if got := spent(store.upload, clk); got != n {
		t.Errorf("upload tokens spent %d, want %d (the digest pass is local)", got, n)
	}
}

// sizeRecorder remembers the largest read asked of it.
type sizeRecorder struct {
	io.ReadSeeker
	max, reads int
}

func (r *sizeRecorder) Read(p []byte) (int, error) {
	r.max = max(r.max, len(p))
	r.reads++
	return r.ReadSeeker.Read(p)
}

// frozen returns a Limiter on a clock that never moves, with limits so high
// that its first burst covers every test body: tokens are then taken and
// never refilled, so what a call consumed can be read off exactly.
func frozen(t *testing.T, cfg Config) (*Limiter, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	l, err := newLimiter(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

func spent(b *bucket, clk *fakeClock) int64 {
	return int64(float64(b.lim.Burst()) - b.lim.TokensAt(clk.Now()))
}

func TestPutPaysPerChunkAndAgainAfterSeek(t *testing.T) {
	const n = 1<<20 + 123
	cfg := Config{UploadBytesPerSec: 1 << 30, BulkUploadBytesPerSec: 1 << 30, RequestsPerSec: 1000}
	for _, p := range []Priority{High, Low} {
		t.Run(p.String(), func(t *testing.T) {
			store, clk := frozen(t, cfg)
			global, gclk := frozen(t, cfg)
			s := NewStore(retryStore{mem.New()}, store, global)
			body := &sizeRecorder{ReadSeeker: bytes.NewReader(make([]byte, n))}
			within(t, "put", func() {
				if err := s.Put(WithPriority(context.Background(), p), "k", body, n); err != nil {
					t.Error(err)
				}
			})
			if body.max > MaxChunk || body.reads < 2*n/MaxChunk {
				t.Errorf("body read in %d reads of up to %d bytes, want chunks of at most %d", body.reads, body.max, MaxChunk)
			}
			for _, l := range []struct {
				lim *Limiter
				clk *fakeClock
			}{{store, clk}, {global, gclk}} {
				if got := spent(l.lim.upload, l.clk); got != 2*n {
					t.Errorf("upload tokens spent %d, want %d (read twice)", got, 2*n)
				}
				wantBulk := int64(0)
				if p == Low {
					wantBulk = 2 * n
				}
				if got := spent(l.lim.bulk, l.clk); got != wantBulk {
					t.Errorf("bulk tokens spent %d, want %d", got, wantBulk)
				}
				if got := spent(l.lim.requests, l.clk); got != 1 {
					t.Errorf("request tokens spent %d, want 1", got)
				}
				st := l.lim.Stats()
				if got := st.Upload.Of(p).N; got != 2*n {
					t.Errorf("Stats upload %v N = %d, want %d", p, got, 2*n)
				}
				if st.Upload.Total().Waited != 0 {
					t.Errorf("waited %v with tokens to spare", st.Upload.Total().Waited)
				}
			}
		})
	}
}

func TestEveryCallTakesOneRequest(t *testing.T) {
	store, _ := frozen(t, Config{RequestsPerSec: 1000, DownloadBytesPerSec: 1 << 30})
	global, _ := frozen(t, Config{RequestsPerSec: 1000})
	s := NewStore(mem.New(), store, global)
	ctx := context.Background()
	within(t, "calls", func() {
		for _, k := range []string{"a/1", "a/2", "a/3"} {
			if err := s.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
				t.Error(err)
			}
		}
		rc, err := s.Get(ctx, "a/1", 0, -1)
		if err != nil {
			t.Error(err)
			return
		}
		if b, err := io.ReadAll(rc); err != nil || string(b) != "x" {
			t.Errorf("get: %q %v", b, err)
		}
		rc.Close()
		if _, err := s.Stat(ctx, "a/2"); err != nil {
			t.Error(err)
		}
		keys := 0
		if err := s.List(ctx, "a/", "", func(backends.ObjectInfo) error { keys++; return nil }); err != nil || keys != 3 {
			t.Errorf("list: %d keys, %v", keys, err)
		}
		if err := s.Delete(ctx, "a/3"); err != nil {
			t.Error(err)
		}
		if err := s.(backends.Checker).Check(ctx); err != nil {
			t.Error(err)
		}
	})
	// 3 Put + Get + Stat + List (3 keys, one call) + Delete; mem has no Check.
	for name, l := range map[string]*Limiter{"store": store, "global": global} {
		if got := l.Stats().Requests.High.N; got != 7 {
			t.Errorf("%s: %d requests counted, want 7", name, got)
		}
	}
	if got := store.Stats().Download.High.N; got != 1 {
		t.Errorf("download bytes %d, want 1", got)
	}
}

func TestCallCancelledWhileWaiting(t *testing.T) {
	clk := newFakeClock()
	l, err := newLimiter(Config{RequestsPerSec: 1}, clk)
	if err != nil {
		t.Fatal(err)
	}
	enq := make(chan Priority, 8)
	l.requests.onEnqueue = func(p Priority, _ int) { enq <- p }
	s := NewStore(mem.New(), nil, l)
	if _, err := s.Stat(context.Background(), "a/b"); !backends.IsNotFound(err) {
		t.Fatalf("first stat (a token in hand): %v", err)
	}
	for _, c := range []struct {
		op   string
		call func(context.Context) error
	}{
		{"stat a/b", func(ctx context.Context) error { _, err := s.Stat(ctx, "a/b"); return err }},
		{"put a/b", func(ctx context.Context) error { return s.Put(ctx, "a/b", strings.NewReader("x"), 1) }},
		{"get a/b", func(ctx context.Context) error { _, err := s.Get(ctx, "a/b", 0, -1); return err }},
		{"list a/", func(ctx context.Context) error {
			return s.List(ctx, "a/", "", func(backends.ObjectInfo) error { return nil })
		}},
		{"delete a/b", func(ctx context.Context) error { return s.Delete(ctx, "a/b") }},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.call(ctx) }()
		recv(t, c.op+" queued", enq)
		cancel()
		err := recv(t, c.op+" returning after cancel", done)
		if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), c.op+": ") {
			t.Errorf("%s: got %v, want %q wrapping context.Canceled", c.op, err, c.op+": ...")
		}
	}
	if l.requests.queued() != 0 {
		t.Fatal("cancelled calls left in the queue")
	}
	if err := l.Set(Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(context.Background(), "a/b"); err == nil {
		t.Fatal("a cancelled Put stored its object")
	}
}

func TestPutBodyCancelledWhileWaiting(t *testing.T) {
	clk := newFakeClock()
	l, err := newLimiter(Config{UploadBytesPerSec: 1024}, clk)
	if err != nil {
		t.Fatal(err)
	}
	enq := make(chan Priority, 8)
	l.upload.onEnqueue = func(p Priority, _ int) { enq <- p }
	s := NewStore(mem.New(), l, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, "big", bytes.NewReader(make([]byte, 8<<10)), 8<<10) }()
	recv(t, "body wait", enq) // the first KiB went, the second waits
	cancel()
	if err := recv(t, "put returning", done); !errors.Is(err, context.Canceled) {
		t.Fatalf("put: %v, want context.Canceled", err)
	}
	if _, err := s.Stat(context.Background(), "big"); !backends.IsNotFound(err) {
		t.Fatalf("after cancelled put: %v", err)
	}
}
