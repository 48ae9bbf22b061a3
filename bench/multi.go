package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	mgo "github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends/azure"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/segments"
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
	logPath := filepath.Join(dir, "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	a, err := agent.New(agent.Options{WALDir: walDir, StateDir: filepath.Join(dir, "state"), Codec: segments.CodecZstd,
		Stores: stores, RetryAttempts: 3, RetryMaxBackoff: time.Second, ReconcileMaxBackoff: 5 * time.Second,
		DrainTimeout: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(logFile, nil))})
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
				return nil, fmt.Errorf("stores did not catch up within 60s of the writer's end (last written %d): %+v\nthe agent's log ends:\n%s",
					last, st, tail(logPath, 30))
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
	fmt.Printf("\nshipping lag, one agent -> file + MinIO + Azurite, source paced at %.1f MB/s for %v (statistics over the\n"+
		"entries written from %v on), 16 MiB / 1 s seal (the defaults), zstd:\n", float64(o.rate)/1e6, o.lagSecs, o.warm)
	for _, r := range []struct {
		name string
		r    *lagResult
	}{{"all up", up}, {"MinIO stopped", down}} {
		got := float64(r.r.writeBytes) / r.r.writeSecs
		fmt.Printf("  %-14s wrote %s in %.1fs = %.1f MB/s, %d entries (%.0f/s); measured window %d entries\n", r.name,
			human(r.r.writeBytes), r.r.writeSecs, got/1e6, r.r.writeEntries,
			float64(r.r.writeEntries)/r.r.writeSecs, r.r.window)
		if got < 0.95*float64(o.rate) {
			fmt.Printf("  %-14s NOTE: the writer held only %.0f%% of the paced rate: this machine could not write the source\n"+
				"  %-14s that fast beside the agent and the servers; the lags below are at %.1f MB/s\n", "", 100*got/float64(o.rate), "", got/1e6)
		}
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

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
