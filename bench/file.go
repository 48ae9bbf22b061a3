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
	"github.com/walship/walship/crypt"
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
	ceiling, sealed, n, err := sealCeiling(size)
	if err != nil {
		return err
	}
	decoded, err := decodeCeiling(sealed, n)
	if err != nil {
		return err
	}
	fmt.Printf("\n%-34s %12s %12s %8s\n", "ceilings (best of 3)", "walship", "ceiling", "ratio")
	row(fmt.Sprintf("ship %s WAL -> file store", human(big.walBytes)), big.shipMBs, ceiling)
	row(fmt.Sprintf("restore %s WAL <- file store", human(big.walBytes)), big.restoreMBs, decoded)
	fmt.Printf("ceiling = the same records, in memory, sealed into 16 MiB zstd segments by one goroutine per core\n" +
		"(ship: the most the agent could ship at here, before reading the source, the spool and the store),\n" +
		"and those segments read back (SHA-256, zstd, CRC32C) by one goroutine per core (restore: before\n" +
		"fetching, and writing the log with fsync, which the raw copy above does alone)\n")
	plain, enc, err := encryptionCost(filepath.Join(dir, "big"), big.walBytes)
	if err != nil {
		return err
	}
	fmt.Printf("\n%-34s %12s %12s %8s\n", fmt.Sprintf("encryption (age; best of %d each)", encryptionRounds), "encrypted", "plain", "ratio")
	row(fmt.Sprintf("ship %s WAL -> file store", human(big.walBytes)), enc[0], plain[0])
	row(fmt.Sprintf("restore %s WAL <- file store", human(big.walBytes)), enc[1], plain[1])
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

	storeDir := filepath.Join(dir, "store")
	secs, rss, err := shipChild(walDir, storeDir, "")
	if err != nil {
		return r, err
	}
	r.peakRSS = rss
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
// returns the seconds that took. With a recipient (age1...) the store gets
// its segments encrypted to it.
func ship(walDir, storeDir, recipient string) (float64, error) {
	store, err := file.Open(storeDir)
	if err != nil {
		return 0, err
	}
	var rs []*crypt.Recipient
	if recipient != "" {
		if rs, err = crypt.ParseRecipients([]string{recipient}); err != nil {
			return 0, err
		}
	}
	last, err := lastIndex(walDir)
	if err != nil {
		return 0, err
	}
	// Each run gets its own state dir: a second run with the first's would
	// find the log shipped already and ship nothing to its new store.
	a, err := agent.New(agent.Options{WALDir: walDir, StateDir: storeDir + ".state", Codec: segments.CodecZstd, Stores: []agent.Store{{Store: store, Recipients: rs}},
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

// shipChild runs ship in a child process, so that its peak RSS is its own,
// and returns the seconds it took and that peak.
func shipChild(walDir, storeDir, recipient string) (secs float64, peakRSS int64, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	args := []string{"-ship", walDir, "-ship-to", storeDir}
	if recipient != "" {
		args = append(args, "-ship-recipient", recipient)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ship child: %v", err)
	}
	if _, err := fmt.Sscanf(string(out), "%g %d", &secs, &peakRSS); err != nil {
		return 0, 0, fmt.Errorf("ship child printed %q", out)
	}
	return secs, peakRSS, nil
}

// encryptionRounds is how many times the encryption comparison ships and
// restores the log plain and encrypted, alternately; the best of each
// counts, so that a moment of noise from the rest of the machine does not
// decide the ratio.
const encryptionRounds = 3

// encryptionCost ships the log measure generated in dir again, alternately
// to a plain store and to one that gets it encrypted to a fresh identity,
// and restores each (the encrypted one with that identity): the cost of
// encryption, best of encryptionRounds runs of each.
func encryptionCost(dir string, walBytes int64) (plain, encrypted [2]float64, err error) {
	id, err := crypt.GenerateIdentity()
	if err != nil {
		return plain, encrypted, err
	}
	rcpt, _ := id.Recipient()
	for round := range encryptionRounds {
		for _, enc := range []bool{false, true} {
			name, recipient, o := fmt.Sprintf("plain-%d", round), "", pitr.Options{}
			best := &plain
			if enc {
				name, recipient, o = fmt.Sprintf("encrypted-%d", round), rcpt.Text(), pitr.Options{Identities: []*crypt.Identity{id}}
				best = &encrypted
			}
			ship, restore, err := shipAndRestore(dir, name, walBytes, recipient, o)
			if err != nil {
				return plain, encrypted, err
			}
			best[0], best[1] = max(best[0], ship), max(best[1], restore)
		}
	}
	return plain, encrypted, nil
}

// shipAndRestore ships dir/wal to a new store dir/store-NAME (encrypted to
// recipient, if given), restores it with o and checks the size of what it
// restored; it removes both afterwards. It returns MB/s of source for each.
func shipAndRestore(dir, name string, walBytes int64, recipient string, o pitr.Options) (ship, restore float64, err error) {
	storeDir, res := filepath.Join(dir, "store-"+name), filepath.Join(dir, "restored-"+name)
	defer os.RemoveAll(storeDir)
	defer os.RemoveAll(storeDir + ".state")
	defer os.RemoveAll(res)
	secs, _, err := shipChild(filepath.Join(dir, "wal"), storeDir, recipient)
	if err != nil {
		return 0, 0, err
	}
	store, err := file.Open(storeDir)
	if err != nil {
		return 0, 0, err
	}
	est, err := restoreEstimated(context.Background(), store, res, o)
	if err != nil {
		return 0, 0, err
	}
	if got := dirSize(filepath.Join(res, "wal")); got != walBytes {
		return 0, 0, fmt.Errorf("restored %s log is %d bytes, source %d", name, got, walBytes)
	}
	return float64(walBytes) / 1e6 / secs, mbs(walBytes, est.took), nil
}
