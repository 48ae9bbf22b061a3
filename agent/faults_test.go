package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// faulty fails every request while down is set, like a store answering 503.
type faulty struct {
	backends.Store
	down  atomic.Bool
	calls atomic.Int64
}

var errInjected = errors.New("injected: 503 Service Unavailable")

func (f *faulty) fail(op, key string) error {
	f.calls.Add(1)
	if f.down.Load() {
		return fmt.Errorf("%s %s: %w", op, key, errInjected)
	}
	return nil
}

func (f *faulty) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := f.fail("put", key); err != nil {
		return err
	}
	return f.Store.Put(ctx, key, r, size)
}

func (f *faulty) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := f.fail("get", key); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key, off, n)
}

func (f *faulty) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := f.fail("stat", key); err != nil {
		return backends.ObjectInfo{}, err
	}
	return f.Store.Stat(ctx, key)
}

func (f *faulty) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := f.fail("list", prefix); err != nil {
		return err
	}
	return f.Store.List(ctx, prefix, after, fn)
}

func startWith(t *testing.T, walDir string, tweak func(*Options), stores ...backends.Store) *running {
	t.Helper()
	var ss []Store
	for i, st := range stores {
		ss = append(ss, Store{Name: fmt.Sprintf("s%d", i), Store: st})
	}
	opt := Options{WALDir: walDir, SealSize: 8 << 10, SealInterval: 30 * time.Millisecond,
		Codec: segments.CodecZstd, Stores: ss, Logger: quietLogger(), Tail: wal.Options{Poll: 5 * time.Millisecond},
		RetryAttempts: 3, RetryBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond}
	if tweak != nil {
		tweak(&opt)
	}
	a, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

func metricValue(t *testing.T, a *Agent, name, store string) float64 {
	t.Helper()
	mfs, err := a.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "store" && l.GetValue() == store {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{store=%q} not found", name, store)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A store that fails every request reaches the retry bound, is marked
// degraded and reconciled with backoff, and recovers when it works again;
// the healthy store keeps shipping meanwhile and nothing is reported shipped
// to the failing one.
func TestRetryBoundReconcileRecover(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	good, bad := mem.New(), &faulty{Store: mem.New()}
	src.write(100, "a")
	r := startWith(t, src.dir, nil, good, bad)
	r.waitShipped(t, 1, 100)
	bad.down.Store(true)
	src.write(300, "b")
	waitFor(t, "degraded", func() bool { return r.a.Status().Stores[1].Degraded })
	waitFor(t, "healthy store caught up", func() bool { return r.a.Status().Stores[0].Shipped == 400 })
	if st := r.a.Status().Stores[1]; st.Shipped > 100 {
		t.Fatalf("failing store reported shipped up to %d", st.Shipped)
	}
	waitFor(t, "a reconcile", func() bool { return metricValue(t, r.a, "walship_store_reconciles_total", "s1") >= 1 })
	if got := metricValue(t, r.a, "walship_store_retries_total", "s1"); got < 2 {
		t.Fatalf("retries = %v, want >= 2 (RetryAttempts 3)", got)
	}
	if got := metricValue(t, r.a, "walship_store_retries_total", "s0"); got != 0 {
		t.Fatalf("healthy store retried %v times", got)
	}
	rec := httptest.NewRecorder()
	r.a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "s1") {
		t.Fatalf("/healthz while degraded: %d %q", rec.Code, rec.Body.String())
	}
	bad.down.Store(false)
	r.waitShipped(t, 1, 400)
	waitFor(t, "recovered", func() bool { return !r.a.Status().Stores[1].Degraded })
	rec = httptest.NewRecorder()
	r.a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `walship_store_shipped_index{store="s1"} 400`) {
		t.Fatalf("/metrics lacks the shipped index:\n%s", rec.Body.String())
	}
	r.halt(t)
	restoreAndCompare(t, bad.Store, pitr.Target{Latest: true}, src.want, 1, 400)
	restoreAndCompare(t, good, pitr.Target{Latest: true}, src.want, 1, 400)
}

// A store down long enough that the spool would pass its bound gets a
// recorded gap; the source and the other store are never held up; when the
// store is back a new timeline starts and every store restores exactly what
// it can, never across the gap silently.
func TestSpoolBoundGap(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	good, bad := mem.New(), &faulty{Store: mem.New()}
	src.write(100, "a")
	r := startWith(t, src.dir, func(o *Options) { o.SpoolMaxBytes = 20 << 10 }, good, bad)
	r.waitShipped(t, 1, 100)
	bad.down.Store(true)
	src.write(800, "b") // far more than 20 KiB of segments
	waitFor(t, "healthy store caught up", func() bool { return r.a.Status().Stores[0].Shipped == 900 })
	waitFor(t, "gap recorded", func() bool { return len(r.a.Status().Stores[1].Gaps) > 0 })
	if got := r.a.Status().SpoolBytes; got > 40<<10 {
		t.Fatalf("spool holds %d bytes with a 20 KiB bound", got)
	}
	gap := r.a.Status().Stores[1].Gaps[0]
	bad.down.Store(false)
	src.write(50, "c")
	r.waitShipped(t, 1, 950)
	src.write(20, "d") // the first segment after the store is back starts timeline 2
	r.waitShipped(t, 2, 970)
	r.halt(t)
	tls, err := pitr.ListTimelines(context.Background(), bad.Store)
	if err != nil || len(tls) != 2 || !strings.Contains(tls[1].Reason, "s1") {
		t.Fatalf("timelines in the gapped store: %+v %v", tls, err)
	}
	restoreAndCompare(t, good, pitr.Target{Latest: true}, src.want, 1, 970)
	both := multi.New(multi.Member{Name: "bad", Store: bad.Store}, multi.Member{Name: "good", Store: good})
	restoreAndCompare(t, both, pitr.Target{Latest: true}, src.want, 1, 970)
	restoreAndCompare(t, bad.Store, pitr.Target{Index: gap.From - 1}, src.want, 1, gap.From-1)
	_, _, err = pitr.Restore(context.Background(), bad.Store, pitr.Target{Latest: true}, t.TempDir(), pitr.Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(gap.From)) {
		t.Fatalf("latest from the gapped store: %v, want an error naming the gap from %d", err, gap.From)
	}
}

// The new timeline a store's gap makes due survives a restart: the agent
// stops after the store caught up but before it sealed another segment.
func TestGapTimelineDueSurvivesRestart(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	good, bad := mem.New(), &faulty{Store: mem.New()}
	src.write(100, "a")
	r := startWith(t, src.dir, func(o *Options) { o.SpoolMaxBytes = 20 << 10 }, good, bad)
	r.waitShipped(t, 1, 100)
	bad.down.Store(true)
	src.write(800, "b")
	waitFor(t, "gap recorded", func() bool { return len(r.a.Status().Stores[1].Gaps) > 0 })
	bad.down.Store(false)
	r.waitShipped(t, 1, 900) // the store is back; nothing more to seal
	r.halt(t)
	r = startWith(t, src.dir, nil, good, bad)
	src.write(20, "c")
	r.waitShipped(t, 2, 920)
	r.halt(t)
	tls, err := pitr.ListTimelines(context.Background(), bad.Store)
	if err != nil || len(tls) != 2 || !strings.Contains(tls[1].Reason, "s1") || tls[1].ForkIndex != 900 {
		t.Fatalf("timelines in the gapped store: %+v %v", tls, err)
	}
	restoreAndCompare(t, good, pitr.Target{Latest: true}, src.want, 1, 920)
}
