package main

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	tidwal "github.com/tidwall/wal"
)

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
