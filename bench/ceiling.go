package main

import (
	"runtime"
	"sync"
	"time"

	"github.com/walship/walship/segments"
)

// ceilingRounds is how many times the sealing ceiling is measured; the
// best counts.
const ceilingRounds = 3

// sealCeiling measures what sealing alone reaches on this machine: the
// entries of a generated log of size bytes (the same records the file
// benchmark's log holds), already in memory, sealed into 16 MiB zstd
// segments in memory by one goroutine per core. No source reading, no
// spool, no fsync, no upload: the most the agent could ship at, in MB/s
// of source log.
func sealCeiling(size int64) (float64, error) {
	es, n := cryptEntries(size)
	var chunks [][]segments.Entry
	for len(es) > 0 {
		k, raw := 0, uint64(0)
		for k < len(es) && raw < sealSize {
			raw += segments.RawSize(len(es[k].Data))
			k++
		}
		chunks = append(chunks, es[:k])
		es = es[k:]
	}
	var fastest time.Duration
	for range ceilingRounds {
		work := make(chan []segments.Entry, len(chunks))
		for _, c := range chunks {
			work <- c
		}
		close(work)
		var wg sync.WaitGroup
		errs := make(chan error, runtime.GOMAXPROCS(0))
		start := time.Now()
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range work {
					if _, err := sealAll(c, cryptVariant{version: 1}, segments.CodecZstd, nil); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		close(errs)
		if err := <-errs; err != nil {
			return 0, err
		}
		fastest = best(fastest, took)
	}
	return float64(n) / 1e6 / fastest.Seconds(), nil
}
