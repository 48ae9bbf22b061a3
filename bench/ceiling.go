package main

import (
	"bytes"
	"io"
	"runtime"
	"slices"
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
// of source log. It returns the segments too, and the bytes of source log
// they hold (decodeCeiling reads them).
func sealCeiling(size int64) (float64, [][]byte, int64, error) {
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
	var mu sync.Mutex
	var sealed [][]byte
	keep := func(_ string, b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		sealed = append(sealed, slices.Clone(b))
		return nil
	}
	fastest, err := fastestOnAllCores(chunks, func(round int, c []segments.Entry) error {
		put := keep
		if round > 0 {
			put = nil
		}
		_, err := sealAll(c, cryptVariant{version: 1}, segments.CodecZstd, put)
		return err
	})
	if err != nil {
		return 0, nil, 0, err
	}
	return float64(n) / 1e6 / fastest.Seconds(), sealed, n, nil
}

// fastestOnAllCores runs fn on every item by one goroutine per core,
// ceilingRounds times (round 0, 1, ...), and returns the fastest round's
// time, or fn's first error.
func fastestOnAllCores[T any](items []T, fn func(round int, item T) error) (time.Duration, error) {
	var fastest time.Duration
	for round := range ceilingRounds {
		work := make(chan T, len(items))
		for _, it := range items {
			work <- it
		}
		close(work)
		var wg sync.WaitGroup
		errs := make(chan error, runtime.GOMAXPROCS(0))
		start := time.Now()
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := range work {
					if err := fn(round, it); err != nil {
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
	return fastest, nil
}

// decodeCeiling measures what reading segments alone reaches on this
// machine: the sealed segments, in memory, read with segments.Reader
// (SHA-256, zstd, each entry's CRC32C) by one goroutine per core, the
// entries dropped. No fetch, no log written, no fsync: the most a restore
// could decode at, in MB/s of source log (rawBytes of it).
func decodeCeiling(sealed [][]byte, rawBytes int64) (float64, error) {
	fastest, err := fastestOnAllCores(sealed, func(_ int, b []byte) error { return readAll(b) })
	if err != nil {
		return 0, err
	}
	return float64(rawBytes) / 1e6 / fastest.Seconds(), nil
}

// readAll reads every entry of the segment b, checking it.
func readAll(b []byte) error {
	rd, err := segments.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer rd.Close()
	for {
		if _, err := rd.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}
