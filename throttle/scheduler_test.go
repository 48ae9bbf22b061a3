package throttle

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// slowLimiter returns a Limiter on a fake clock whose upload bucket holds
// exactly one 1 KiB chunk and refills it in one second, drained, plus a
// channel told of every caller that joins the upload queue.
func slowLimiter(t *testing.T) (*Limiter, *fakeClock, chan Priority) {
	t.Helper()
	clk := newFakeClock()
	l, err := newLimiter(Config{UploadBytesPerSec: 1024}, clk)
	if err != nil {
		t.Fatal(err)
	}
	if _, burst := byteLimit(1024); burst != 1024 {
		t.Fatalf("burst at 1 KiB/s = %d, the test assumes 1024", burst)
	}
	enq := make(chan Priority, 64)
	l.upload.onEnqueue = func(p Priority, _ int) { enq <- p }
	if err := l.wait(context.Background(), upload, High, 1024); err != nil {
		t.Fatal(err)
	}
	if len(enq) != 0 {
		t.Fatal("the draining wait queued: the bucket did not start full")
	}
	return l, clk, enq
}

type result struct {
	name string
	err  error
}

// start queues one 1 KiB upload wait named name and returns once it is in
// the queue.
func start(t *testing.T, ctx context.Context, l *Limiter, enq chan Priority, done chan result, name string, p Priority) {
	t.Helper()
	go func() {
		done <- result{name, l.wait(WithPriority(ctx, p), upload, p, 1024)}
	}()
	if got := recv(t, "enqueue of "+name, enq); got != p {
		t.Fatalf("%s queued as %v, want %v", name, got, p)
	}
}

func TestSchedulerPriorityThenFIFO(t *testing.T) {
	l, clk, enq := slowLimiter(t)
	ctx := context.Background()
	done := make(chan result, 8)
	for _, w := range []struct {
		name string
		p    Priority
	}{{"L1", Low}, {"L2", Low}, {"H1", High}, {"H2", High}} {
		start(t, ctx, l, enq, done, w.name, w.p)
	}
	if n := clk.pending(); n != 1 {
		t.Fatalf("%d timers armed, want 1 (the head's)", n)
	}

	// Each second refills exactly one chunk, so each Advance serves exactly
	// the next waiter in order.
	want := []string{"H1", "H2", "H3", "L1", "L2"}
	for i, name := range want {
		clk.Advance(time.Second)
		r := recv(t, "grant of "+name, done)
		if r.err != nil || r.name != name {
			t.Fatalf("grant %d: got %s (err %v), want %s", i, r.name, r.err, name)
		}
		if i == 0 {
			// A High that arrives after Lows queued still goes first.
			start(t, ctx, l, enq, done, "H3", High)
		}
		select {
		case r := <-done:
			t.Fatalf("%s was granted in the same second as %s", r.name, name)
		default:
		}
	}
	if q := l.upload.queued(); q != 0 {
		t.Fatalf("%d still queued", q)
	}
	if n := clk.pending(); n != 0 {
		t.Fatalf("%d timers armed with an empty queue", n)
	}

	// H1, H2, H3 queued at 0s, 0s, 1s and served at 1s, 2s, 3s; L1, L2
	// queued at 0s, served at 4s, 5s.
	st := l.Stats().Upload
	if want := (Counter{N: 4 * 1024, Waited: 5 * time.Second}); st.High != want {
		t.Errorf("high stats %+v, want %+v (the drain counts 1 KiB, no wait)", st.High, want)
	}
	if want := (Counter{N: 2 * 1024, Waited: 9 * time.Second}); st.Low != want {
		t.Errorf("low stats %+v, want %+v", st.Low, want)
	}
}

func TestSchedulerSetRetimesQueued(t *testing.T) {
	l, clk, enq := slowLimiter(t)
	done := make(chan result, 4)
	start(t, context.Background(), l, enq, done, "w", High)

	clk.Advance(time.Millisecond)
	if l.upload.queued() != 1 {
		t.Fatal("granted after 1 ms at 1 KiB/s")
	}
	// At 1 MiB/s the missing ~1023 bytes take under a millisecond.
	if err := l.Set(Config{UploadBytesPerSec: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Millisecond)
	if r := recv(t, "grant after speed-up", done); r.err != nil {
		t.Fatal(r.err)
	}

	// Slow down again while someone waits (w left the bucket nearly empty:
	// ~26 tokens): the new, slower rate applies to the queued waiter.
	start(t, context.Background(), l, enq, done, "w2", High)
	if err := l.Set(Config{UploadBytesPerSec: 1024}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Millisecond) // enough at the old rate
	if l.upload.queued() != 1 {
		t.Fatal("served at the old rate after Set slowed the limit")
	}
	clk.Advance(time.Second)
	if r := recv(t, "grant after slow-down", done); r.err != nil {
		t.Fatal(r.err)
	}

	// Setting the limit to 0 releases the queue without any time passing.
	start(t, context.Background(), l, enq, done, "w3", High)
	start(t, context.Background(), l, enq, done, "w4", Low)
	if err := l.Set(Config{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := recv(t, "release by unlimited", done); r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got := l.Config(); got != (Config{}) {
		t.Fatalf("Config() = %+v after Set(Config{})", got)
	}
}

func TestSetRejectsInvalid(t *testing.T) {
	l, err := New(Config{UploadBytesPerSec: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Set(Config{DownloadBytesPerSec: -1}); err == nil {
		t.Fatal("Set accepted a negative rate")
	}
	if got := l.Config(); got.UploadBytesPerSec != 5 {
		t.Fatalf("a refused Set changed the config to %+v", got)
	}
	var nilLim *Limiter
	if err := nilLim.Set(Config{}); err == nil {
		t.Fatal("Set on a nil Limiter returned nil")
	}
}

func TestWaitCancel(t *testing.T) {
	l, clk, enq := slowLimiter(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 4)
	start(t, ctx, l, enq, done, "head", High)
	start(t, context.Background(), l, enq, done, "next", Low)

	cancel()
	r := recv(t, "return of the cancelled wait", done)
	if r.name != "head" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("got %s %v, want head with context.Canceled", r.name, r.err)
	}
	if q := l.upload.queued(); q != 1 {
		t.Fatalf("%d queued after cancel, want 1", q)
	}
	// The cancelled head took nothing, so the next waiter inherits its slot.
	clk.Advance(time.Second)
	if r := recv(t, "grant of next", done); r.name != "next" || r.err != nil {
		t.Fatalf("got %s %v", r.name, r.err)
	}
	if st := l.Stats().Upload; st.High.N != 1024 || st.Low.N != 1024 {
		t.Fatalf("stats %+v: a cancelled wait must not count bytes", st)
	}

	// A context that is already done fails at once instead of queueing.
	if err := l.wait(ctx, upload, High, 1024); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a done context: %v", err)
	}
	if len(enq) != 0 {
		t.Fatal("a wait with a done context queued")
	}
}

func TestUnlimitedNeverWaits(t *testing.T) {
	clk := newFakeClock()
	l, err := newLimiter(Config{}, clk)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*bucket{l.upload, l.download, l.bulk, l.requests} {
		b.onEnqueue = func(Priority, int) { panic("an unlimited bucket queued a caller") }
	}
	within(t, "unlimited waits", func() {
		for d := range numDirections {
			for _, p := range []Priority{High, Low} {
				for range 1000 {
					if err := l.wait(context.Background(), d, p, 1<<30); err != nil {
						panic(err)
					}
				}
				if c := l.chunk(d, p); c != 0 {
					panic(fmt.Sprintf("unlimited %v chunk = %d, want 0 (no cutting)", d, c))
				}
			}
		}
	})
	if clk.pending() != 0 {
		t.Fatal("an unlimited bucket armed a timer")
	}
	if st := l.Stats(); st.Upload.Total().Waited != 0 || st.Upload.High.N != 1000<<30 {
		t.Fatalf("stats %+v", st.Upload)
	}
}

func TestOversizeWaitIsCutToBurst(t *testing.T) {
	l, clk, enq := slowLimiter(t)
	done := make(chan result, 1)
	go func() { done <- result{"big", l.wait(context.Background(), upload, High, 1<<20)} }()
	recv(t, "enqueue", enq)
	clk.Advance(time.Second) // one burst (1 KiB), not 1 MiB
	if r := recv(t, "grant", done); r.err != nil {
		t.Fatal(r.err)
	}
}
