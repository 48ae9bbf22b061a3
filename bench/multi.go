package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mgo "github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/azure"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/throttle"
)

// multiOptions are the -store multi settings.
type multiOptions struct {
	rate      int64         // source write rate, bytes/s
	lagSecs   time.Duration // how long the writer writes in each lag run
	warm      time.Duration // the first part of a lag run left out of the statistics
	limits    []int64       // upload limits measured, bytes/s
	limitSecs time.Duration // measurement window per limit
}

// multiVars are what -store multi needs from scripts/testenv.sh: MinIO
// (with its pid and restart command, to stop it for real), Azurite, and the
// pid file for a restarted server.
var multiVars = []string{"WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY",
	"WALSHIP_TEST_MINIO_PID", "WALSHIP_TEST_MINIO_CMD", "WALSHIP_TEST_PIDFILE",
	"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY",
	"WALSHIP_TEST_AZURITE_ENDPOINT", "WALSHIP_TEST_AZURITE_ACCOUNT", "WALSHIP_TEST_AZURITE_KEY", "AZURE_STORAGE_CONNECTION_STRING"}

func multiConfigured() error {
	var missing []string
	for _, v := range multiVars {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("-store multi needs MinIO and Azurite (%s unset): run scripts/bench.sh, which starts them",
			strings.Join(missing, ", "))
	}
	return nil
}

// multiStores are the three stores of a lag run, in this order.
var multiStores = []string{"file", "minio", "azure"}

// benchMulti measures one agent shipping to a file store, MinIO and Azurite
// at once:
//
//	a. per-store shipping lag at a steady source write rate, all stores up;
//	b. the same with MinIO killed (SIGKILL by WALSHIP_TEST_MINIO_PID) for the
//	   run: the other stores' lag next to (a);
//	c. upload rate-limit accuracy on the MinIO store (restarted with
//	   WALSHIP_TEST_MINIO_CMD) through throttle.NewStore.
func benchMulti(dir string, o multiOptions) error {
	if err := multiConfigured(); err != nil {
		return err
	}
	ctx := context.Background()
	minioEP := os.Getenv("WALSHIP_TEST_MINIO_ENDPOINT")
	mc, err := mgo.New(minioEP, &mgo.Options{Creds: mcreds.NewStaticV4(os.Getenv("WALSHIP_TEST_MINIO_ACCESS_KEY"),
		os.Getenv("WALSHIP_TEST_MINIO_SECRET_KEY"), ""), Region: "us-east-1", BucketLookup: mgo.BucketLookupPath})
	if err != nil {
		return err
	}
	bucket := fmt.Sprintf("walship-multi-%d", time.Now().UnixNano())
	if err := mc.MakeBucket(ctx, bucket, mgo.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	container := fmt.Sprintf("walship-multi-%d", time.Now().UnixNano())
	az, err := azure.New(azure.Options{Container: container, Endpoint: os.Getenv("WALSHIP_TEST_AZURITE_ENDPOINT"),
		Account: os.Getenv("WALSHIP_TEST_AZURITE_ACCOUNT"), Key: os.Getenv("WALSHIP_TEST_AZURITE_KEY")})
	if err != nil {
		return err
	}
	if _, err := az.ContainerClient().Create(ctx, nil); err != nil {
		return fmt.Errorf("create container %s: %w", container, err)
	}
	urls := func(run string) map[string]string {
		return map[string]string{
			"file":  "file://" + filepath.Join(dir, run, "filestore"),
			"minio": fmt.Sprintf("minio://%s/%s/%s?tls=false", minioEP, bucket, run),
			"azure": fmt.Sprintf("azblob://%s/%s", container, run),
		}
	}
	fmt.Printf("\nseveral stores at once: file, MinIO %s (minio://, bucket %s), Azurite (azblob://, container %s)\n",
		minioEP, bucket, container)

	// a. all stores up.
	up, err := lagRun(ctx, filepath.Join(dir, "up"), urls("up"), o, nil)
	if err != nil {
		return fmt.Errorf("lag run, all stores up: %w", err)
	}
	// b. MinIO killed once every store shipped something.
	pid, _ := strconv.Atoi(os.Getenv("WALSHIP_TEST_MINIO_PID"))
	down, err := lagRun(ctx, filepath.Join(dir, "down"), urls("down"), o, func() error { return killServer(pid, minioEP) })
	if err != nil {
		return fmt.Errorf("lag run, MinIO stopped: %w", err)
	}
	printLag(o, up, down)

	// c. MinIO back (same data dir and port), then the rate limits.
	start := time.Now()
	newPid, err := restartMinIO(dir, minioEP)
	if err != nil {
		return err
	}
	fmt.Printf("\nMinIO restarted with WALSHIP_TEST_MINIO_CMD (pid %d), ready in %v\n", newPid, time.Since(start).Round(time.Millisecond))
	return benchLimits(ctx, filepath.Join(dir, "limits"), func(run string) string { return urls(run)["minio"] }, o)
}

// batch is one WriteBatch of the paced writer.
type batch struct {
	last uint64    // its last entry
	n    int       // entries in it
	at   time.Time // when WriteBatch returned
}

// pacedWriter appends JSON-like records to a tidwall/wal log at a steady
// byte rate, in a batch every 5 ms, the way a busy database would.
type pacedWriter struct {
	log   *tidwal.Log
	rate  int64
	start time.Time
	mu    sync.Mutex
	bs    []batch
	bytes int64
	next  uint64
	rng   *rand.Rand
}

func newPacedWriter(dir string, rate int64) (*pacedWriter, error) {
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, NoSync: true})
	if err != nil {
		return nil, err
	}
	w := &pacedWriter{log: l, rate: rate, next: 1, rng: rand.New(rand.NewPCG(7, 7)), start: time.Now()}
	// One entry, so the agent finds a log that has begun.
	if err := w.write(int64(1)); err != nil {
		l.Close()
		return nil, err
	}
	return w, nil
}

// maxBatch bounds one WriteBatch, so a writer that fell behind catches up
// in many timed batches rather than one whose entries all get its time.
const maxBatch = 1 << 20

func (w *pacedWriter) write(target int64) error {
	var b tidwal.Batch
	n := 0
	var bytes int64
	first := w.next
	for (w.bytes+bytes < target && bytes < maxBatch) || n == 0 {
		now := time.Now().UnixNano()
		rec := fmt.Appendf(nil, `{"op":"put","table":"orders","key":"k%08d","ts":%d,"value":{"customer":%d,"amount":%d.%02d,"status":"%s","note":"%x"}}`,
			w.rng.IntN(1e8), now, w.rng.IntN(1e6), w.rng.IntN(10000), w.rng.IntN(100),
			[]string{"new", "paid", "shipped", "returned"}[w.rng.IntN(4)], w.rng.Uint64())
		b.Write(first+uint64(n), rec)
		bytes += int64(len(rec))
		n++
	}
	if err := w.log.WriteBatch(&b); err != nil {
		return err
	}
	at := time.Now()
	w.mu.Lock()
	w.next += uint64(n)
	w.bytes += bytes
	w.bs = append(w.bs, batch{last: w.next - 1, n: n, at: at})
	w.mu.Unlock()
	return nil
}

// run writes until stop closes; it returns the first error.
func (w *pacedWriter) run(stop <-chan struct{}) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		target := int64(float64(w.rate) * time.Since(w.start).Seconds())
		for { // batches of at most maxBatch: each one's lag is timed from its own write
			w.mu.Lock()
			behind := w.bytes < target
			w.mu.Unlock()
			if !behind {
				break
			}
			if err := w.write(target); err != nil {
				return err
			}
		}
	}
}

func (w *pacedWriter) batches() []batch {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bs[:len(w.bs):len(w.bs)]
}

// storeLag is one store's lag in one run.
type storeLag struct {
	name    string
	entry   []weighted // write -> covered by the store's shipped index, per batch
	status  []float64  // StoreStatus.LagSeconds samples
	covered int64      // entries of the window the store had at the end
	final   agent.StoreStatus
	// degradedAfter: when the store turned degraded, from the kill.
	degradedAfter time.Duration
}

type lagResult struct {
	writeBytes   int64
	writeEntries uint64
	writeSecs    float64
	window       int64 // entries written in the measured window
	stores       []*storeLag
	killedAt     time.Duration // from the writer's start; 0 = nothing killed
	spoolAtEnd   int64
}

type weighted struct {
	v float64
	w int
}

// lagRun ships a live log written at o.rate for o.lagSecs to the three
// stores with one agent (defaults: 16 MiB / 1 s seal, zstd) and measures
// each store's lag. kill, if set, runs once every store has shipped
// something (about a second in), and stops a store's server.
func lagRun(ctx context.Context, dir string, urls map[string]string, o multiOptions, kill func() error) (*lagResult, error) {
	var stores []agent.Store
	for _, name := range multiStores {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		st, err := storeurl.Open(octx, urls[name])
		cancel()
		if err != nil {
			return nil, err
		}
		defer st.Close()
		stores = append(stores, agent.Store{Name: name, Store: st})
	}
	walDir := filepath.Join(dir, "wal")
	w, err := newPacedWriter(walDir, o.rate)
	if err != nil {
		return nil, err
	}
	defer w.log.Close()
	a, err := agent.New(agent.Options{WALDir: walDir, StateDir: filepath.Join(dir, "state"), Codec: segments.CodecZstd,
		Stores: stores, RetryAttempts: 3, RetryMaxBackoff: time.Second, ReconcileMaxBackoff: 5 * time.Second,
		DrainTimeout: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(runCtx) }()
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() { writerDone <- w.run(stop) }()

	r := &lagResult{}
	for _, name := range multiStores {
		r.stores = append(r.stores, &storeLag{name: name, degradedAfter: -1})
	}
	next := make([]int, len(stores))
	winFrom := w.start.Add(o.warm)
	winTo := w.start.Add(o.lagSecs)
	var killedAt time.Time
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	stopped := false
	for polls := 0; ; polls++ {
		select {
		case err := <-agentDone:
			return nil, fmt.Errorf("agent stopped: %v", err)
		case err := <-writerDone:
			if err != nil {
				return nil, fmt.Errorf("writer: %w", err)
			}
			writerDone = nil
		case <-tick.C:
		}
		now := time.Now()
		st := a.Status()
		bs := w.batches()
		for i, ss := range st.Stores {
			sl := r.stores[i]
			for next[i] < len(bs) && bs[next[i]].last <= ss.Shipped {
				b := bs[next[i]]
				if !b.at.Before(winFrom) && !b.at.After(winTo) {
					sl.entry = append(sl.entry, weighted{now.Sub(b.at).Seconds(), b.n})
					sl.covered += int64(b.n)
				}
				next[i]++
			}
			if polls%10 == 0 && now.After(winFrom) && now.Before(winTo) {
				sl.status = append(sl.status, ss.LagSeconds)
			}
			if ss.Degraded && sl.degradedAfter < 0 && !killedAt.IsZero() {
				sl.degradedAfter = now.Sub(killedAt)
			}
			sl.final = ss
		}
		if kill != nil && killedAt.IsZero() {
			ok := true
			for _, ss := range st.Stores {
				ok = ok && ss.Shipped > 0
			}
			if ok {
				if err := kill(); err != nil {
					return nil, err
				}
				killedAt = time.Now()
				r.killedAt = killedAt.Sub(w.start)
			} else if now.Sub(w.start) > 20*time.Second {
				return nil, fmt.Errorf("stores did not all ship within 20s: %+v", st.Stores)
			}
		}
		if !stopped && now.After(winTo) {
			close(stop)
			stopped = true
			r.writeSecs = now.Sub(w.start).Seconds()
		}
		if stopped && writerDone == nil {
			// Done once every store still up has everything written.
			last := w.next - 1
			done := true
			for _, ss := range st.Stores {
				if !ss.Degraded && ss.Shipped < last && !(kill != nil && ss.Name == "minio") {
					done = false
				}
			}
			if done {
				r.spoolAtEnd = st.SpoolBytes
				break
			}
			if now.Sub(winTo) > 60*time.Second {
				return nil, fmt.Errorf("stores did not catch up within 60s of the writer's end: %+v", st.Stores)
			}
		}
	}
	for _, b := range w.batches() {
		if !b.at.Before(winFrom) && !b.at.After(winTo) {
			r.window += int64(b.n)
		}
	}
	r.writeBytes, r.writeEntries = w.bytes, w.next-1
	cancel()
	if err := <-agentDone; err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return r, nil
}

// quantile returns the q-quantile of xs weighted by w.
func quantile(xs []weighted, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]weighted(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i].v < s[j].v })
	total := 0
	for _, x := range s {
		total += x.w
	}
	need := q * float64(total)
	acc := 0
	for _, x := range s {
		acc += x.w
		if float64(acc) >= need {
			return x.v
		}
	}
	return s[len(s)-1].v
}

func plain(xs []float64) []weighted {
	out := make([]weighted, len(xs))
	for i, x := range xs {
		out[i] = weighted{x, 1}
	}
	return out
}

func printLag(o multiOptions, up, down *lagResult) {
	fmt.Printf("\nshipping lag, one agent -> file + MinIO + Azurite, source written at a steady %.1f MB/s for %v (statistics over the\n"+
		"entries written from %v on), 16 MiB / 1 s seal (the defaults), zstd:\n", float64(o.rate)/1e6, o.lagSecs, o.warm)
	for _, r := range []struct {
		name string
		r    *lagResult
	}{{"all up", up}, {"MinIO stopped", down}} {
		fmt.Printf("  %-14s wrote %s in %.1fs = %.1f MB/s, %d entries (%.0f/s); measured window %d entries\n", r.name,
			human(r.r.writeBytes), r.r.writeSecs, float64(r.r.writeBytes)/1e6/r.r.writeSecs, r.r.writeEntries,
			float64(r.r.writeEntries)/r.r.writeSecs, r.r.window)
	}
	fmt.Printf("  entry lag: from an entry's write (WriteBatch returned) until the store's shipped index (agent.Status,\n" +
		"  polled every 10 ms) covers it, weighted by entries; status lag: StoreStatus.LagSeconds (age of the oldest\n" +
		"  entry read from the source and not yet in the store) sampled every 100 ms.\n")
	fmt.Printf("\n  %-13s | %-29s | %-29s | %s\n", "", "all stores up", "MinIO stopped (SIGKILL)", "stopped / up")
	fmt.Printf("  %-6s %-6s | %9s %9s %9s | %9s %9s %9s | %8s %8s\n", "store", "lag", "p50", "p99", "max", "p50", "p99", "max", "p50", "p99")
	ms := func(v float64) string { return fmt.Sprintf("%.0fms", v*1000) }
	for i, name := range multiStores {
		u, d := up.stores[i], down.stores[i]
		row := func(what string, a, b []weighted) {
			left := fmt.Sprintf("%9s %9s %9s", ms(quantile(a, .5)), ms(quantile(a, .99)), ms(quantile(a, 1)))
			right, ratio := fmt.Sprintf("%29s", "down: nothing shipped"), ""
			if name != "minio" {
				right = fmt.Sprintf("%9s %9s %9s", ms(quantile(b, .5)), ms(quantile(b, .99)), ms(quantile(b, 1)))
				ratio = fmt.Sprintf("%7.2fx %7.2fx", quantile(b, .5)/quantile(a, .5), quantile(b, .99)/quantile(a, .99))
			}
			fmt.Printf("  %-6s %-6s | %s | %s | %s\n", name, what, left, right, ratio)
		}
		row("entry", u.entry, d.entry)
		row("status", plain(u.status), plain(d.status))
	}
	m := down.stores[1]
	fmt.Printf("\n  MinIO stopped: killed %.1fs after the writer started", down.killedAt.Seconds())
	if m.degradedAfter >= 0 {
		fmt.Printf(", store degraded %.1fs after the kill", m.degradedAfter.Seconds())
	} else {
		fmt.Printf(", store NOT degraded by the end")
	}
	fmt.Printf("; at the end it was %d entries (%.1fs) behind, spool %s waiting for it\n",
		m.final.LagEntries, m.final.LagSeconds, human(down.spoolAtEnd))
	for i, name := range multiStores {
		if name == "minio" {
			continue
		}
		fmt.Printf("  %s: window entries covered: all up %d/%d, MinIO stopped %d/%d\n", name,
			up.stores[i].covered, up.window, down.stores[i].covered, down.window)
	}
}

// killServer stops a server for real (SIGKILL by pid) and waits until its
// port refuses connections.
func killServer(pid int, endpoint string) error {
	if pid <= 0 {
		return fmt.Errorf("bad server pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill MinIO pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", endpoint, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO at %s still answers 10s after SIGKILL of pid %d", endpoint, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restartMinIO runs WALSHIP_TEST_MINIO_CMD (same data dir and port) in the
// background, records its pid in WALSHIP_TEST_PIDFILE (testenv.sh kills it
// on exit) and waits until it is ready.
func restartMinIO(dir, endpoint string) (int, error) {
	logf, err := os.Create(filepath.Join(dir, "minio-restarted.log"))
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("bash", "-c", os.Getenv("WALSHIP_TEST_MINIO_CMD"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return 0, fmt.Errorf("restart MinIO: %w", err)
	}
	pid := cmd.Process.Pid
	go func() { cmd.Wait(); logf.Close() }()
	if f, err := os.OpenFile(os.Getenv("WALSHIP_TEST_PIDFILE"), os.O_APPEND|os.O_WRONLY, 0); err == nil {
		fmt.Fprintln(f, pid)
		f.Close()
	} else {
		syscall.Kill(pid, syscall.SIGKILL)
		return 0, fmt.Errorf("record the restarted MinIO's pid: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return pid, nil
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			return pid, fmt.Errorf("restarted MinIO not ready within 60s:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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
