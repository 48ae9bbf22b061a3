package pitr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/walship/walship/backends"
)

// Rates are what one sample of a plan's own segments cost on this machine
// against this store; a restore's time estimate is made from them. Costs
// per byte are per stored byte of the sample; CPU is this process's
// (getrusage), wall time beyond it is waiting (on the store or the disk).
type Rates struct {
	Request   time.Duration // one small ranged GET (a header): the store's latency
	FetchWait float64       // seconds per byte downloading beyond CPU and Request per object
	CPU       float64       // seconds of CPU per byte: download, check, decode, write
	Write     float64       // seconds per byte the single writer takes (wall)
	Sync      time.Duration // closing a written log (fsync of a file and its directory)
	Objects   int           // segments sampled
	Bytes     int64         // their stored bytes
	Parallel  int           // downloads the restore runs at once
	CPUs      int           // cores
}

// sampleBytes is how much of a plan's segments Measure fetches, decodes and
// writes; sampleObjects bounds the number. The first segments of the plan
// are taken (the ones a restore fetches first), skipping segments larger
// than sampleMaxObject unless every segment is; then the smallest is taken.
const (
	sampleBytes     = 8 << 20
	sampleObjects   = 8
	sampleMaxObject = 32 << 20
)

// Measure replaces the plan's estimate with one made from measured rates:
// it times a header read (latency), then downloads, checks, decodes and
// writes (with fsync, into a temporary directory that is removed) a sample
// of the plan's first segments, and scales the cost of each stage to the
// plan's objects and bytes for a restore with parallel downloads (see
// Rates.Estimate). It costs 1 + up to 8 GETs and up to 8 MiB (or one
// segment) of download; nothing in the store changes. A plan with nothing
// to fetch keeps its estimate.
func (p *Plan) Measure(ctx context.Context, st backends.Store, parallel int) error {
	sample := p.sample()
	if len(sample) == 0 {
		return nil
	}
	if parallel <= 0 {
		parallel = 4
	}
	r := Rates{Parallel: parallel, CPUs: runtime.GOMAXPROCS(0)}
	start := time.Now()
	if _, err := readHeader(ctx, st, sample[0]); err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	r.Request = time.Since(start)

	dir, err := os.MkdirTemp("", "walship-estimate-*")
	if err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	defer os.RemoveAll(dir)
	lw, err := newLogWriter(filepath.Join(dir, "wal"), p.Format, DefaultSegmentSize, sample[0].From)
	if err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	defer lw.abort()
	var fetchWall, fetchCPU, decode, writeWall, writeCPU time.Duration
	for _, ps := range sample {
		w0, c0 := time.Now(), cpuTime()
		path, _, err := fetch(ctx, st, dir, ps, p.Format, nil)
		if err != nil {
			return fmt.Errorf("measure restore speed: %w", err)
		}
		w1, c1 := time.Now(), cpuTime()
		err = sampleEntries(ps.Key, path, nil) // decoding alone
		w2, c2 := time.Now(), cpuTime()
		if err == nil { // decoding again, and writing
			err = sampleEntries(ps.Key, path, func(data []byte) error { return lw.Append(lw.next, data) })
		}
		w3, c3 := time.Now(), cpuTime()
		os.Remove(path)
		if err != nil {
			return fmt.Errorf("measure restore speed: %w", err)
		}
		fetchWall += w1.Sub(w0)
		fetchCPU += c1 - c0
		decode += c2 - c1
		writeWall += max(w3.Sub(w2)-w2.Sub(w1), 0)
		writeCPU += max((c3-c2)-(c2-c1), 0)
		r.Objects++
		r.Bytes += ps.Size
	}
	t := time.Now()
	if err := lw.Close(); err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	r.Sync = time.Since(t)
	if err := ctx.Err(); err != nil {
		return err
	}
	b := float64(max(r.Bytes, 1))
	wait := fetchWall - fetchCPU - time.Duration(r.Objects)*r.Request
	r.FetchWait = max(wait.Seconds(), 0) / b
	r.CPU = (fetchCPU + decode + writeCPU).Seconds() / b
	r.Write = writeWall.Seconds() / b
	p.Rates = &r
	p.Estimate = r.Estimate(p.objects(), p.TotalBytes())
	return nil
}

// syncsPerRestore is how many times a restore's fixed work (the marker
// written and synced, directories created, renamed and synced; see
// restore_install.go) costs a measured Sync.
const syncsPerRestore = 3

// Estimate is the time a restore of objects and bytes takes at these rates:
// the slowest of waiting on the store (latency and transfer, Parallel
// downloads at once), the CPU work spread over min(Parallel, CPUs) cores,
// and the single writer, which run in a pipeline; plus the fixed work of
// installing the result.
func (r Rates) Estimate(objects int, bytes int64) time.Duration {
	b := float64(bytes)
	par := float64(max(r.Parallel, 1))
	cores := float64(max(min(r.Parallel, r.CPUs), 1))
	wait := float64(objects)*r.Request.Seconds()/par + b*r.FetchWait/par
	cpu := b * r.CPU / cores
	write := b * r.Write
	d := max(wait, cpu, write) + syncsPerRestore*r.Sync.Seconds()
	return time.Duration(d * float64(time.Second)).Round(time.Millisecond)
}

// sampleEntries decodes every entry of the fetched segment at path, passing
// each one's data to fn (renumbered: a sample need not be contiguous).
func sampleEntries(key, path string, fn func([]byte) error) error {
	src, done, err := openEntries(key, fetched{path: path}, nil)
	if err != nil {
		return err
	}
	defer done()
	for {
		e, err := src.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", key, err)
		}
		if fn != nil {
			if err := fn(e.Data); err != nil {
				return err
			}
		}
	}
}

// sample picks the segments Measure reads.
func (p *Plan) sample() []PlannedSegment {
	var out []PlannedSegment
	var n int64
	for _, ps := range p.Segments {
		if len(out) == sampleObjects || n >= sampleBytes {
			break
		}
		if ps.Size > sampleMaxObject {
			continue
		}
		out = append(out, ps)
		n += ps.Size
	}
	if len(out) == 0 && len(p.Segments) > 0 {
		small := p.Segments[0]
		for _, ps := range p.Segments {
			if ps.Size < small.Size {
				small = ps
			}
		}
		out = append(out, small)
	}
	return out
}

// objects is the number of objects a restore of the plan fetches.
func (p *Plan) objects() int {
	n := len(p.Segments)
	if p.Base != nil {
		n += p.Base.Chunks + 1
	}
	return n
}
