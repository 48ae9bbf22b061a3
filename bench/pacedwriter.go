package main

import (
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
// byte rate, in a batch every 5 ms, the way a busy database would. The
// records come from a pool formatted beforehand, larger than zstd's window
// (so the agent compresses them as it would fresh ones): formatting each
// one as it is written took the writer more CPU than this machine could
// spare beside the agent and two servers, and it held only about half of
// 100 MB/s.
type pacedWriter struct {
	log   *tidwal.Log
	rate  int64
	start time.Time
	mu    sync.Mutex
	bs    []batch
	bytes int64
	next  uint64
	pool  [][]byte
}

// poolBytes is the size of the writer's record pool.
const poolBytes = 32 << 20

func newPacedWriter(dir string, rate int64) (*pacedWriter, error) {
	rng := rand.New(rand.NewPCG(7, 7))
	var pool [][]byte
	for n := 0; n < poolBytes; {
		rec := record(rng, uint64(len(pool)+1))
		pool = append(pool, rec)
		n += len(rec)
	}
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, NoSync: true})
	if err != nil {
		return nil, err
	}
	w := &pacedWriter{log: l, rate: rate, next: 1, pool: pool, start: time.Now()}
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
		idx := first + uint64(n)
		rec := w.pool[idx%uint64(len(w.pool))]
		b.Write(idx, rec)
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
			select {
			case <-stop: // a writer that fell behind stops on time, not once caught up
				return nil
			default:
			}
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
