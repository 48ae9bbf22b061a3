package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/throttle"
)

// counting is a Store decorator that counts the Put body bytes its inner
// store reads, and the objects it stored, with their completion times.
type counting struct {
	backends.Store
	read atomic.Int64
	mu   sync.Mutex
	done []completion
}

type completion struct {
	at   time.Time
	size int64
}

func (c *counting) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	err := c.Store.Put(ctx, key, &countingBody{ReadSeeker: r, n: &c.read}, size)
	if err == nil && strings.HasPrefix(key, segments.SegmentsPrefix) {
		c.mu.Lock()
		c.done = append(c.done, completion{time.Now(), size})
		c.mu.Unlock()
	}
	return err
}

type countingBody struct {
	io.ReadSeeker
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadSeeker.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// LocalBody implements backends.LocalBody: a store's pass over the body
// before the upload (its digest) sends nothing and is not counted.
func (b *countingBody) LocalBody() io.ReadSeeker { return b.ReadSeeker }

// benchLimits measures, for each upload limit, the rate at which the agent
// ships a backlog to MinIO through throttle.NewStore with that limit on the
// store's own Limiter (as `walship replicate` stacks it for
// stores[].limits.upload_bytes_per_sec).
func benchLimits(ctx context.Context, dir string, url func(run string) string, o multiOptions) error {
	var maxLimit int64
	for _, l := range o.limits {
		maxLimit = max(maxLimit, l)
	}
	const warm = 3 * time.Second
	const segSize = 4 << 20
	size := max(int64(float64(maxLimit)*(o.limitSecs+warm).Seconds()*1.1), 100<<20*int64((unlimitedSecs+warm)/time.Second)) + 64<<20
	walDir := filepath.Join(dir, "wal")
	start := time.Now()
	walBytes, err := generate(walDir, size)
	if err != nil {
		return err
	}
	last, err := lastIndex(walDir)
	if err != nil {
		return err
	}
	fmt.Printf("\nupload rate limit on the MinIO store (throttle.New + throttle.NewStore, the store's own limiter), each measured\n"+
		"over %v after %v of warm-up, shipping a backlog (source WAL %s generated in %.1fs; compression none, %s segments):\n",
		o.limitSecs, warm, human(walBytes), time.Since(start).Seconds(), human(segSize))
	fmt.Printf("  measured = Put body bytes the MinIO client read through the limiter in the window / window length;\n"+
		"  objects = bytes of segments stored (Put returned) between the first and the last completion in the window / that time;\n"+
		"  queued = share of the window the upload spent waiting on the limiter (low: the store or the agent, not the limit, set the pace);\n"+
		"  unlimited = the same path without a limit, for %v: the ceiling of this agent -> MinIO path on this machine.\n", unlimitedSecs)
	fmt.Printf("\n  %12s %12s %9s %14s %9s %8s %7s\n", "configured", "measured", "error", "objects", "error", "objects", "queued")
	mib := func(v float64) string { return fmt.Sprintf("%.3f MiB/s", v/(1<<20)) }
	for _, lim := range append(append([]int64(nil), o.limits...), 0) {
		win := o.limitSecs
		if lim == 0 {
			win = unlimitedSecs
		}
		r, err := limitRun(ctx, filepath.Join(dir, fmt.Sprintf("run-%d", lim)), walDir, last, url(fmt.Sprintf("limit-%d", lim)), lim, segSize, warm, win)
		if err != nil {
			return fmt.Errorf("limit %s/s: %w", human(lim), err)
		}
		errp := func(v float64) string {
			if lim == 0 {
				return ""
			}
			return fmt.Sprintf("%+.2f%%", (v/float64(lim)-1)*100)
		}
		objRate := "n/a"
		if r.objRate > 0 {
			objRate = mib(r.objRate)
		}
		conf := mib(float64(lim))
		if lim == 0 {
			conf = "unlimited"
		}
		note := ""
		if r.ranOut {
			note = "  (backlog ran out: a lower bound)"
		}
		fmt.Printf("  %12s %12s %9s %14s %9s %8d %6.1f%%%s\n", conf, mib(r.measured), errp(r.measured), objRate, errp(r.objRate),
			r.objects, r.queued*100, note)
	}
	return nil
}

// unlimitedSecs is the window of the unlimited (ceiling) run.
const unlimitedSecs = 10 * time.Second

type limitResult struct {
	measured, objRate float64
	objects           int
	queued            float64 // share of the window spent waiting on the limiter
	ranOut            bool    // everything was shipped before the window ended
}

func limitRun(ctx context.Context, dir, walDir string, last uint64, url string, limit int64, segSize int64, warm, window time.Duration) (limitResult, error) {
	var r limitResult
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	inner, err := storeurl.Open(octx, url)
	cancel()
	if err != nil {
		return r, err
	}
	defer inner.Close()
	cnt := &counting{Store: inner}
	lim, err := throttle.New(throttle.Config{UploadBytesPerSec: limit})
	if err != nil {
		return r, err
	}
	a, err := agent.New(agent.Options{WALDir: walDir, StateDir: filepath.Join(dir, "state"), Codec: segments.CodecNone,
		SealSize: segSize, SpoolMaxBytes: 128 << 20, DrainTimeout: time.Second,
		Stores: []agent.Store{{Name: "minio", Store: throttle.NewStore(cnt, lim, nil), Limiter: lim}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return r, err
	}
	defer a.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	wait := func(d time.Duration) error {
		select {
		case err := <-done:
			return fmt.Errorf("agent stopped early: %v", err)
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(warm); err != nil {
		return r, err
	}
	t0, c0, w0 := time.Now(), cnt.read.Load(), lim.Stats().Upload.Total().Waited
	if err := wait(window); err != nil {
		return r, err
	}
	t1, c1, w1 := time.Now(), cnt.read.Load(), lim.Stats().Upload.Total().Waited
	r.measured = float64(c1-c0) / t1.Sub(t0).Seconds()
	r.queued = (w1 - w0).Seconds() / t1.Sub(t0).Seconds()
	if a.Status().Stores[0].Shipped >= last {
		r.ranOut = true
	}
	cnt.mu.Lock()
	var in []completion
	for _, c := range cnt.done {
		if !c.at.Before(t0) && !c.at.After(t1) {
			in = append(in, c)
		}
	}
	cnt.mu.Unlock()
	r.objects = len(in)
	if len(in) >= 2 {
		var b int64
		for _, c := range in[1:] {
			b += c.size
		}
		r.objRate = float64(b) / in[len(in)-1].at.Sub(in[0].at).Seconds()
	}
	if st := a.Status().Stores[0]; st.Shipped == 0 {
		return r, fmt.Errorf("nothing shipped: %+v", st)
	}
	stop()
	if err := <-done; err != nil {
		return r, fmt.Errorf("agent: %w", err)
	}
	return r, nil
}
