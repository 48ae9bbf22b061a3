// Command bench measures walship against raw baselines in one run and
// prints the ratios:
//
//   - ship: source WAL bytes per second from a backlog to durable in a file
//     store, against a plain copy of the same WAL files with fsync;
//   - restore: restored WAL bytes per second from that store, against a
//     plain copy with fsync of the same bytes;
//   - memory: the agent's peak Go heap while shipping, at two log sizes
//     (it must not grow with the log).
//
// Usage: go run ./bench [-size 256MiB] [-dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/config"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

func main() {
	sizeFlag := flag.String("size", "256MiB", "source WAL size")
	dirFlag := flag.String("dir", "", "work dir (default: a temp dir, removed)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	shipDir := flag.String("ship", "", "internal: run only the agent on this WAL dir and print the seconds it took")
	shipStore := flag.String("store", "", "internal: the store dir for -ship")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	size, err := config.ParseSize(*sizeFlag)
	if err != nil {
		fail(err)
	}
	if *shipDir != "" {
		secs, err := ship(*shipDir, *shipStore)
		if err != nil {
			fail(err)
		}
		fmt.Println(secs, vmHWM())
		pprof.StopCPUProfile()
		return
	}
	dir := *dirFlag
	if dir == "" {
		if dir, err = os.MkdirTemp("", "walship-bench-*"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
	}
	fmt.Printf("walship bench: %d-core %s/%s, %s, work dir %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), dir)
	small, err := measure(filepath.Join(dir, "small"), size/4)
	if err != nil {
		fail(err)
	}
	big, err := measure(filepath.Join(dir, "big"), size)
	if err != nil {
		fail(err)
	}
	fmt.Printf("\n%-34s %12s %12s %8s\n", "measure", "walship", "raw", "ratio")
	row := func(name string, w, r float64) { fmt.Printf("%-34s %9.1f MB/s %7.1f MB/s %7.2fx\n", name, w, r, w/r) }
	row(fmt.Sprintf("ship %s WAL -> file store", human(big.walBytes)), big.shipMBs, big.rawShipMBs)
	row(fmt.Sprintf("restore %s WAL <- file store", human(big.walBytes)), big.restoreMBs, big.rawRestoreMBs)
	fmt.Printf("%-34s %12s\n", "stored/source bytes (zstd)", fmt.Sprintf("%.3f", float64(big.storeBytes)/float64(big.walBytes)))
	fmt.Printf("%-34s %9s (%s log) vs %s (%s log)\n", "agent process peak RSS", human(small.peakRSS), human(small.walBytes), human(big.peakRSS), human(big.walBytes))
}

type result struct {
	walBytes, storeBytes      int64
	shipMBs, rawShipMBs       float64
	restoreMBs, rawRestoreMBs float64
	peakRSS                   int64
}

func measure(dir string, size int64) (result, error) {
	var r result
	walDir := filepath.Join(dir, "wal")
	n, err := generate(walDir, size)
	if err != nil {
		return r, err
	}
	r.walBytes = n

	// Raw baseline: copy the WAL files with fsync.
	start := time.Now()
	if _, err := copyTree(walDir, filepath.Join(dir, "rawcopy")); err != nil {
		return r, err
	}
	r.rawShipMBs = mbs(n, time.Since(start))

	// The agent runs in a child process so its peak RSS is its own.
	storeDir := filepath.Join(dir, "store")
	exe, err := os.Executable()
	if err != nil {
		return r, err
	}
	cmd := exec.Command(exe, "-ship", walDir, "-store", storeDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("ship child: %v", err)
	}
	var secs float64
	if _, err := fmt.Sscanf(string(out), "%g %d", &secs, &r.peakRSS); err != nil {
		return r, fmt.Errorf("ship child printed %q", out)
	}
	r.shipMBs = float64(n) / 1e6 / secs
	r.storeBytes = dirSize(filepath.Join(dir, "store"))

	// Raw restore baseline: copy the same WAL bytes with fsync.
	start = time.Now()
	if _, err := copyTree(walDir, filepath.Join(dir, "rawrestore")); err != nil {
		return r, err
	}
	r.rawRestoreMBs = mbs(n, time.Since(start))
	store, err := file.Open(storeDir)
	if err != nil {
		return r, err
	}
	start = time.Now()
	res := filepath.Join(dir, "restored")
	if _, _, err := pitr.Restore(context.Background(), store, pitr.Target{Latest: true}, res, pitr.Options{}); err != nil {
		return r, err
	}
	r.restoreMBs = mbs(n, time.Since(start))
	if got := dirSize(filepath.Join(res, "wal")); got != n {
		return r, fmt.Errorf("restored log is %d bytes, source %d", got, n)
	}
	fmt.Printf("  %s log: ship %.1f MB/s (raw copy %.1f), restore %.1f MB/s (raw copy %.1f), agent peak RSS %s\n",
		human(n), r.shipMBs, r.rawShipMBs, r.restoreMBs, r.rawRestoreMBs, human(r.peakRSS))
	return r, nil
}

// generate writes a tidwall/wal log of about size bytes with JSON-like
// records, the kind of entries a database logs.
func generate(dir string, size int64) (int64, error) {
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, NoSync: true})
	if err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var b tidwal.Batch
	var total int64
	for i := uint64(1); total < size; {
		b.Clear()
		for k := 0; k < 256; k++ {
			rec := fmt.Appendf(nil, `{"op":"put","table":"orders","key":"k%08d","ts":%d,"value":{"customer":%d,"amount":%d.%02d,"status":"%s","note":"%x"}}`,
				rng.IntN(1e8), 1_700_000_000_000+int64(i), rng.IntN(1e6), rng.IntN(10000), rng.IntN(100),
				[]string{"new", "paid", "shipped", "returned"}[rng.IntN(4)], rng.Uint64())
			b.Write(i, rec)
			total += int64(len(rec)) + 2
			i++
		}
		if err := l.WriteBatch(&b); err != nil {
			return 0, err
		}
	}
	if err := l.Sync(); err != nil {
		return 0, err
	}
	if err := l.Close(); err != nil {
		return 0, err
	}
	return dirSize(dir), nil
}

func lastIndex(dir string) (uint64, error) {
	l, err := tidwal.Open(dir, nil)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.LastIndex()
}

func copyTree(src, dst string) (int64, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ents {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			return n, err
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			in.Close()
			return n, err
		}
		c, err := io.Copy(out, in)
		in.Close()
		n += c
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
	}
	d, err := os.Open(dst)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	return n, err
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// ship runs an agent on walDir until the store holds the whole log and
// returns the seconds that took.
func ship(walDir, storeDir string) (float64, error) {
	store, err := file.Open(storeDir)
	if err != nil {
		return 0, err
	}
	last, err := lastIndex(walDir)
	if err != nil {
		return 0, err
	}
	a, err := agent.New(agent.Options{WALDir: walDir, Codec: segments.CodecZstd, Stores: []agent.Store{{Store: store}},
		SealInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- a.Run(ctx) }()
	for a.Status().Stores[0].Shipped < last {
		select {
		case err := <-done:
			return 0, fmt.Errorf("agent stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	secs := time.Since(start).Seconds()
	cancel()
	return secs, <-done
}

// vmHWM is this process's peak resident set size in bytes (0 if unknown).
// It is read in the child itself: the rusage of a child started with
// CLONE_VM would count the parent's pages from before exec.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func mbs(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
