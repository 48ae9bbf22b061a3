package wal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/internal/testwal"
	"github.com/walship/walship/wal"
)

// TestTruncationStress follows a log that writer processes append to,
// truncate at the front and rewrite at the back, while the tailer runs. The
// tailer handles every *TruncatedFrontError and *RewrittenError by seeking,
// as the agent does. In the end, whatever it last returned for each index
// still in the log must be that entry's final content: no rewrite went
// unnoticed, and nothing came back garbled or out of order.
func TestTruncationStress(t *testing.T) {
	bin := testwal.BuildWriter(t)
	for _, f := range formats() {
		for _, borrow := range []bool{false, true} {
			testTruncationStress(t, bin, f, borrow)
		}
	}
}

// testTruncationStress runs the stress with one format; with borrow the
// tailer lends Entry.Data (Options.Borrow) and the reader copies it before
// the next call, as the agent's sealer does.
func testTruncationStress(t *testing.T, bin string, f wal.Format, borrow bool) {
	t.Run(fmt.Sprintf("%s/borrow=%v", f, borrow), func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "wal")
		const max = 300
		run := func(args ...string) {
			t.Helper()
			args = append([]string{"-dir", dir, "-format", f.String(), "-segsize", "2048", "-max", strconv.Itoa(max), "-nosync"}, args...)
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("walwriter %v: %v: %s", args, err, out)
			}
		}
		run("-seed", "1", "-count", "50")
		tl := open(t, dir, wal.Options{Borrow: borrow})

		var mu sync.Mutex
		got := map[uint64][]byte{}
		var reached uint64
		var fronts, rewrites int
		var gate sync.Mutex // held by the test to hold the tailer back
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			prev := uint64(0)
			for {
				gate.Lock()
				gate.Unlock() //nolint:staticcheck // a gate, not a critical section
				e, err := tl.Next(ctx)
				var tf *wal.TruncatedFrontError
				var rw *wal.RewrittenError
				switch {
				case errors.As(err, &tf):
					fronts++
					prev = 0
					tl.Seek(tf.First)
					continue
				case errors.As(err, &rw):
					rewrites++
					prev = 0
					tl.Seek(rw.From)
					continue
				case err != nil:
					done <- err
					return
				}
				if prev != 0 && e.Index != prev+1 {
					done <- errors.New("indexes not contiguous: " + strconv.FormatUint(prev, 10) + " then " + strconv.FormatUint(e.Index, 10))
					return
				}
				prev = e.Index
				mu.Lock()
				got[e.Index] = bytes.Clone(e.Data)
				reached = e.Index
				mu.Unlock()
			}
		}()

		rng := rand.New(rand.NewPCG(3, uint64(f)))
		last, first := uint64(50), uint64(1)
		for round := range 12 {
			seed := strconv.Itoa(round + 2)
			switch rng.IntN(4) {
			case 0: // rewrite the back
				k := last - uint64(rng.IntN(int(min(last-first, 150))))
				run("-truncate-back", strconv.FormatUint(k, 10), "-seed", seed, "-count", "60")
				last = k + 60
			case 1: // truncate the front
				k := first + uint64(rng.IntN(int(last-first)))
				run("-truncate-front", strconv.FormatUint(k, 10), "-seed", seed, "-count", "60")
				first, last = k, last+60
			case 2: // truncate the front past a tailer held back
				gate.Lock()
				run("-seed", seed, "-count", "100")
				k := last + 50
				run("-truncate-front", strconv.FormatUint(k, 10), "-seed", seed, "-count", "20")
				first, last = k, last+120
				gate.Unlock()
			default:
				run("-seed", seed, "-count", "150", "-batch", "3")
				last += 150
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			r := reached
			mu.Unlock()
			if r == last {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tailer reached %d, log ends at %d", r, last)
			}
			time.Sleep(5 * time.Millisecond) // polling the tailer's progress
		}
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("tailer: %v", err)
		}
		wantFirst, want := testwal.ReadLog(t, dir, f)
		if wantFirst != first || len(want) != int(last-first+1) {
			t.Fatalf("model is off: log %d..%d, want %d..%d", wantFirst, wantFirst+uint64(len(want))-1, first, last)
		}
		for i, w := range want {
			if g, ok := got[first+uint64(i)]; !ok || !bytes.Equal(g, w) {
				t.Fatalf("entry %d: the tailer last returned %d bytes (seen %v), the log holds %d", first+uint64(i), len(g), ok, len(w))
			}
		}
		t.Logf("log %d..%d; the tailer saw %d front truncations and %d rewrites", first, last, fronts, rewrites)
	})
}
