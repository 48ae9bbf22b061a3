package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// benchFile measures shipping to and restoring from a file store at size/4
// and size, against plain fsync'd copies.
func benchFile(dir string, size int64) error {
	small, err := measure(filepath.Join(dir, "small"), size/4)
	if err != nil {
		return err
	}
	big, err := measure(filepath.Join(dir, "big"), size)
	if err != nil {
		return err
	}
	fmt.Printf("\n%-34s %12s %12s %8s\n", "measure", "walship", "raw", "ratio")
	row := func(name string, w, r float64) { fmt.Printf("%-34s %9.1f MB/s %7.1f MB/s %7.2fx\n", name, w, r, w/r) }
	row(fmt.Sprintf("ship %s WAL -> file store", human(big.walBytes)), big.shipMBs, big.rawShipMBs)
	row(fmt.Sprintf("restore %s WAL <- file store", human(big.walBytes)), big.restoreMBs, big.rawRestoreMBs)
	fmt.Printf("%-34s %12s\n", "stored/source bytes (zstd)", fmt.Sprintf("%.3f", float64(big.storeBytes)/float64(big.walBytes)))
	fmt.Printf("%-34s %9s (%s log) vs %s (%s log)\n", "agent process peak RSS", human(small.peakRSS), human(small.walBytes), human(big.peakRSS), human(big.walBytes))
	return nil
}

type result struct {
	walBytes, storeBytes      int64
	shipMBs, rawShipMBs       float64
	restoreMBs, rawRestoreMBs float64
	estimate                  estimated
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
	cmd := exec.Command(exe, "-ship", walDir, "-ship-to", storeDir)
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
	res := filepath.Join(dir, "restored")
	est, err := restoreEstimated(context.Background(), store, res, pitr.Options{})
	if err != nil {
		return r, err
	}
	r.restoreMBs = mbs(n, est.took)
	r.estimate = est
	if got := dirSize(filepath.Join(res, "wal")); got != n {
		return r, fmt.Errorf("restored log is %d bytes, source %d", got, n)
	}
	fmt.Printf("  %s log: ship %.1f MB/s (raw copy %.1f), restore %.1f MB/s (raw copy %.1f), agent peak RSS %s; restore %s\n",
		human(n), r.shipMBs, r.rawShipMBs, r.restoreMBs, r.rawRestoreMBs, human(r.peakRSS), r.estimate)
	return r, nil
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
