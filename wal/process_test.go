package wal_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/walship/walship/internal/testwal"
	"github.com/walship/walship/wal"
)

// TestTailWriterProcess tails a log that tidwall/wal writes in another
// process, with small segment files and entries from 0 bytes to 4 MiB, and
// checks every entry and that indexes are contiguous.
func TestTailWriterProcess(t *testing.T) {
	bin := testwal.BuildWriter(t)
	cases := []struct {
		name   string
		format string
		count  int
		max    int
		seg    int
		batch  int
		start  uint64
	}{
		{name: "binary-4MiB", format: "binary", count: 250, max: 4 << 20, seg: 4 << 10, batch: 1, start: 1},
		{name: "json-4MiB", format: "json", count: 250, max: 4 << 20, seg: 4 << 10, batch: 1, start: 1},
		{name: "binary-small-batches-start", format: "binary", count: 3000, max: 600, seg: 4 << 10, batch: 7, start: 1000},
		{name: "json-small-batches", format: "json", count: 3000, max: 600, seg: 4 << 10, batch: 5, start: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			const seed = 42
			cmd := exec.Command(bin, "-dir", dir, "-format", tc.format, "-segsize", strconv.Itoa(tc.seg),
				"-seed", strconv.Itoa(seed), "-max", strconv.Itoa(tc.max), "-count", strconv.Itoa(tc.count),
				"-batch", strconv.Itoa(tc.batch), "-start", strconv.FormatUint(tc.start, 10), "-nosync")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})

			tl := openWhenCreated(t, dir)
			start := time.Now()
			var bytesRead int
			smallest, largest := tc.max, 0
			for i := tc.start; i < tc.start+uint64(tc.count); i++ {
				e := next(t, tl)
				if e.Index != i {
					t.Fatalf("got entry %d, want %d", e.Index, i)
				}
				if want := testwal.Entry(seed, i, tc.max); !bytes.Equal(e.Data, want) {
					t.Fatalf("entry %d: got %d bytes, want %d", i, len(e.Data), len(want))
				}
				bytesRead += len(e.Data)
				smallest, largest = min(smallest, len(e.Data)), max(largest, len(e.Data))
			}
			if smallest != 0 || largest < tc.max-64 {
				t.Errorf("entry sizes %d..%d: the test wants 0 bytes to about %d", smallest, largest, tc.max)
			}
			if err := <-exited; err != nil {
				t.Fatalf("walwriter: %v: %s", err, stderr.Bytes())
			}
			exited <- nil // for the cleanup
			wantFormat, _ := wal.ParseFormat(tc.format)
			if got := tl.Format(); got != wantFormat {
				t.Errorf("Format() = %v, want %v", got, wantFormat)
			}
			expectBlocked(t, tl, 30*time.Millisecond)
			first, last, err := tl.Bounds()
			if err != nil || first != tc.start || last != tc.start+uint64(tc.count)-1 {
				t.Errorf("Bounds() = %d, %d, %v; want %d, %d", first, last, err, tc.start, tc.start+uint64(tc.count)-1)
			}
			files, _ := os.ReadDir(dir)
			if len(files) < 20 {
				t.Errorf("only %d segment files: the test wants many", len(files))
			}
			t.Logf("%d entries of %d..%d bytes, %d MB, %d segment files in %v", tc.count, smallest, largest, bytesRead>>20, len(files), time.Since(start).Round(time.Millisecond))

			if tc.max <= 4096 { // cross-check with tidwall's own reader
				rfirst, all := testwal.ReadLog(t, dir, wal.FormatAuto)
				if rfirst != tc.start || len(all) != tc.count {
					t.Fatalf("ReadLog: first %d, %d entries", rfirst, len(all))
				}
				before := hashDir(t, dir)
				n := 0
				err := tl.Scan(tc.start, last, func(e wal.Entry) error {
					if !bytes.Equal(e.Data, all[n]) {
						t.Fatalf("Scan entry %d differs from tidwall's", e.Index)
					}
					n++
					return nil
				})
				if err != nil || n != tc.count {
					t.Fatalf("Scan: %d entries, %v", n, err)
				}
				// Past the end (a TruncateBack since Bounds): a typed error,
				// which the fork check retries.
				if err := tl.Scan(last, last+1, func(wal.Entry) error { return nil }); !errors.Is(err, wal.ErrLogEnded) {
					t.Fatalf("Scan past the end: %v, want wal.ErrLogEnded", err)
				}
				sameHashes(t, before, hashDir(t, dir))
			}
		})
	}
}

// openWhenCreated opens dir as soon as the writer has created the log.
func openWhenCreated(t testing.TB, dir string) *wal.Tailer {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tl, err := wal.Open(dir, wal.Options{})
		if err == nil {
			t.Cleanup(func() { tl.Close() })
			return tl
		}
		if !errors.Is(err, wal.ErrNotWAL) || time.Now().After(deadline) {
			t.Fatalf("open: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // polling for the writer, not synchronising
	}
}

// TestLatency measures how long a blocked Next takes to return an entry
// appended by another process... here by an in-process tidwall writer, so
// the append time is known exactly.
func TestLatency(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := tidLog(t, dir, f, 1<<10)
			writeRange(t, l, 1, 1, 1, 100)
			tl := open(t, dir, wal.Options{})
			next(t, tl)
			var worst, total time.Duration
			const rounds = 15
			for i := uint64(2); i < 2+rounds; i++ {
				got := make(chan wal.Entry, 1)
				go func() {
					e, _ := tl.Next(context.Background())
					got <- e
				}()
				// Let Next settle into waiting; correctness does not depend
				// on this pause, only what the measurement means.
				time.Sleep(15 * time.Millisecond)
				writeRange(t, l, 1, i, i, 100)
				at := time.Now()
				var e wal.Entry
				select {
				case e = <-got:
				case <-time.After(10 * time.Second):
					t.Fatal("Next did not return the appended entry")
				}
				d := time.Since(at)
				if e.Index != i {
					t.Fatalf("got entry %d, want %d", e.Index, i)
				}
				total += d
				worst = max(worst, d)
			}
			t.Logf("append-to-Next latency over %d rounds (poll %v): mean %v, worst %v",
				rounds, wal.DefaultPoll, (total / rounds).Round(time.Microsecond), worst.Round(time.Microsecond))
			if worst > time.Second {
				t.Errorf("worst latency %v, want well under 100ms", worst)
			}
		})
	}
}
