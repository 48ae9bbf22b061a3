package pitr

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/wal"
)

// Rates are what one sample of a plan's own segments cost on this machine
// against this store; a restore's time estimate is made from them. Each
// sampled segment is fetched, checked, decoded and written alone, and its
// time split into a cost per object and a cost per stored byte (fitted
// over the sample, see fitCosts); the share of it spent waiting (on the
// store, beyond this process's CPU, from getrusage) is what parallel
// downloads overlap.
type Rates struct {
	Request     time.Duration // one small ranged GET (a header): the store's latency
	RequestCPU  time.Duration // of Request, this process's CPU (a file store's is mostly CPU)
	PerObject   time.Duration // local work per object beyond Request (files, goroutines, checks)
	PerByte     float64       // seconds per stored byte: transfer, check, decode, write
	WaitShare   float64       // of PerByte, the share spent waiting rather than on CPU
	Write       float64       // seconds per byte the single writer takes (wall)
	Sync        time.Duration // fsync of a small new file and of its directory: the install's fixed work
	SyncPerByte float64       // seconds per stored byte to get the written log onto the disk, beyond Sync
	Objects     int           // segments sampled
	Bytes       int64         // their stored bytes
	Parallel    int           // downloads the restore runs at once
	CPUs        int           // cores
}

// sampleBytes is how much of a plan's segments Measure fetches, decodes and
// writes; sampleObjects bounds the number. The first segments of the plan
// are taken (the ones a restore fetches first), skipping segments larger
// than sampleMaxObject unless every segment is; then the smallest is taken.
const (
	requestSamples  = 3 // header reads timed; the median is Request
	sampleBytes     = 8 << 20
	sampleObjects   = 8
	sampleMaxObject = 32 << 20
)

// MeasureOptions tune Measure as the restore it estimates is tuned.
type MeasureOptions struct {
	Parallel   int               // segments fetched at once (Options.Parallel); default 4
	Identities []*crypt.Identity // open encrypted segments (Options.Identities)
	Format     wal.Format        // the restored log's format (Options.Format); default the source's
	// Dir is where the sample's log is written (in a temporary directory
	// made there and removed): a directory on the filesystem the restore
	// writes its log to, whose fsyncs the estimate measures. Default, and
	// when no directory can be made in Dir: the system's temporary
	// directory.
	Dir string
}

// Measure replaces the plan's estimate with one made from measured rates:
// it times three header reads (latency; the median), then downloads, checks, decodes and
// writes (with fsync, into a temporary directory in o.Dir that is removed)
// a sample of the plan's first segments, and scales the cost of each stage to the
// plan's objects and bytes for a restore with parallel downloads (see
// Rates.Estimate). It costs 3 + up to 8 GETs and up to 8 MiB (or one
// segment) of download; nothing in the store changes. A plan with nothing
// to fetch keeps its estimate. A sample encrypted to no identity in
// o.Identities is an error (crypt.ErrNoIdentity) and leaves the estimate.
func (p *Plan) Measure(ctx context.Context, st backends.Store, o MeasureOptions) error {
	sample := p.sample()
	if len(sample) == 0 {
		return nil
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	format := p.Format
	if o.Format != wal.FormatAuto {
		format = o.Format
	}
	r := Rates{Parallel: parallel, CPUs: runtime.GOMAXPROCS(0)}
	var reqs, reqCPU []sampleCost
	for range requestSamples {
		w0, c0 := time.Now(), cpuTime()
		if _, err := readHeader(ctx, st, sample[0]); err != nil {
			return fmt.Errorf("measure restore speed: %w", err)
		}
		w1, c1 := time.Now(), cpuTime()
		reqs = append(reqs, sampleCost{size: 1, took: w1.Sub(w0)})
		reqCPU = append(reqCPU, sampleCost{size: 1, took: min(c1-c0, w1.Sub(w0))})
	}
	sec := func(c sampleCost) float64 { return max(c.took.Seconds(), 0) }
	r.Request = time.Duration(median(reqs, sec) * float64(time.Second))
	r.RequestCPU = min(time.Duration(median(reqCPU, sec)*float64(time.Second)), r.Request)

	dir, err := os.MkdirTemp(o.Dir, ".walship-estimate-*")
	if err != nil && o.Dir != "" { // not writable here: the sample still measures the rest
		dir, err = os.MkdirTemp("", ".walship-estimate-*")
	}
	if err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	defer os.RemoveAll(dir)
	lw, err := newLogWriter(filepath.Join(dir, "wal"), format, DefaultSegmentSize, sample[0].From)
	if err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	defer lw.abort()
	var costs, writes []sampleCost // writes: the writer's share of each
	var wait time.Duration
	for _, ps := range sample {
		w0, c0 := time.Now(), cpuTime()
		src, _, err := fetch(ctx, st, dir, ps, p.Format, o.Identities)
		if err != nil {
			return fmt.Errorf("measure restore speed: %w", err)
		}
		w1, c1 := time.Now(), cpuTime()
		err = sampleEntries(ps.Key(), src, o.Identities, nil) // decoding alone
		w2 := time.Now()
		if err == nil { // decoding again, and writing
			err = sampleEntries(ps.Key(), src, o.Identities, func(data []byte) error { return lw.Append(lw.next, data) })
		}
		w3 := time.Now()
		src.remove()
		if err != nil {
			return fmt.Errorf("measure restore speed: %w", err)
		}
		write := max(w3.Sub(w2)-w2.Sub(w1), 0)
		costs = append(costs, sampleCost{size: ps.Size, took: w1.Sub(w0) + w2.Sub(w1) + write - r.Request})
		writes = append(writes, sampleCost{size: ps.Size, took: write})
		wait += max(w1.Sub(w0)-(c1-c0)-r.Request, 0)
		r.Objects++
		r.Bytes += ps.Size
	}
	t := time.Now()
	if err := lw.Close(); err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	closed := time.Since(t)
	if r.Sync, err = syncSmall(dir); err != nil {
		return fmt.Errorf("measure restore speed: %w", err)
	}
	// The log's fsyncs per byte written, from at least syncSampleMin
	// bytes: a sample of a few small segments writes a few KB, whose
	// fsync is the fixed cost again, and noise of a millisecond over
	// 4 KB made a restore of 100,000 small segments 6x too long.
	written, took := lw.bytes, closed
	if written < syncSampleMin {
		written = syncSampleMin
		if took, err = syncWrite(dir, syncSampleMin); err != nil {
			return fmt.Errorf("measure restore speed: %w", err)
		}
	}
	// Per stored byte, as the rest: the sample's log bytes per stored byte.
	r.SyncPerByte = max(took-r.Sync, 0).Seconds() / float64(written) * float64(lw.bytes) / float64(max(r.Bytes, 1))
	if err := ctx.Err(); err != nil {
		return err
	}
	r.PerObject, r.PerByte = fitCosts(costs)
	var total time.Duration
	for _, c := range costs {
		total += max(c.took, 0)
	}
	r.WaitShare = min(wait.Seconds()/max(total.Seconds(), 1e-9), 1)
	// The median, as in fitCosts: the first sample's write also creates
	// the log's first file, which in a sample of small segments was most
	// of the writing, and a restore does it once.
	r.Write = median(writes, func(c sampleCost) float64 { return max(c.took.Seconds(), 0) / float64(max(c.size, 1)) })
	p.Rates = &r
	p.Estimate = r.Estimate(p.objects(), p.TotalBytes())
	return nil
}

// sampleCost is one sampled segment: its stored size and what it took
// alone beyond the store's latency.
type sampleCost struct {
	size int64
	took time.Duration
}

// smallSegment is the size under which a sample of segments of one size
// is taken to cost per object rather than per byte.
const smallSegment = 1 << 20

// fitCosts splits the sample's times into a cost per object and per byte:
// a least-squares line through (size, time) when the sizes differ at least
// twofold; else, for small segments, all of it per object, and for large
// ones all of it per byte, each the median over the sample. Neither is
// negative.
//
// The median, not the mean: a sample of eight one-second segments takes
// about 50 µs each here, and one GC pause or wait for a core in it made
// the mean 359 µs and the estimate of a restore of 100,000 of them 18.9 s
// for one that took 4.4 s. The history of many small segments is where the
// estimate matters most.
func fitCosts(cs []sampleCost) (perObject time.Duration, perByte float64) {
	if len(cs) == 0 {
		return 0, 0
	}
	var n, sx, sy, sxx, sxy float64
	lo, hi := cs[0].size, cs[0].size
	for _, c := range cs {
		x, y := float64(c.size), max(c.took.Seconds(), 0)
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
		lo, hi = min(lo, c.size), max(hi, c.size)
	}
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	switch {
	case len(cs) >= 2 && hi >= 2*lo:
		b := (n*sxy - sx*sy) / (n*sxx - sx*sx)
		a := (sy - b*sx) / n
		switch {
		case b < 0:
			return sec(sy / n), 0
		case a < 0:
			return 0, sy / max(sx, 1)
		}
		return sec(a), b
	case sx/n < smallSegment:
		return sec(median(cs, func(c sampleCost) float64 { return max(c.took.Seconds(), 0) })), 0
	}
	return 0, median(cs, func(c sampleCost) float64 { return max(c.took.Seconds(), 0) / float64(max(c.size, 1)) })
}

// median is the median of f over cs (the mean of the middle two of an even
// count); cs is not empty.
func median(cs []sampleCost, f func(sampleCost) float64) float64 {
	v := make([]float64, len(cs))
	for i, c := range cs {
		v[i] = f(c)
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 0 {
		return (v[m-1] + v[m]) / 2
	}
	return v[m]
}

// syncsPerRestore is how many times a restore's fixed work (the marker
// written and synced, directories created, renamed and synced; see
// restore_install.go) costs a measured Sync.
const syncsPerRestore = 3

// Estimate is the time a restore of objects and bytes takes at these rates:
// each object's latency (beyond RequestCPU) overlaps Parallel downloads and
// its local work spreads over min(Parallel, CPUs) cores; of the per-byte cost, the
// waiting overlaps Parallel downloads and the CPU spreads over the cores; the single writer runs beside them and sets
// the pace when it is slower. The log's fsyncs come on top: they run beside
// the writer, but a restore to disk took about the pipeline's time plus
// theirs (512 MiB: 1.8-2.0 s to disk, 1.5-1.7 s to tmpfs, fsyncs of 0.4-0.5
// s measured). Then the fixed work of installing the result.
func (r Rates) Estimate(objects int, bytes int64) time.Duration {
	n, b := float64(objects), float64(bytes)
	par := float64(max(r.Parallel, 1))
	cores := float64(max(min(r.Parallel, r.CPUs), 1))
	reqWait, reqCPU := (r.Request - r.RequestCPU).Seconds(), r.RequestCPU.Seconds()
	pipeline := n*reqWait/par + n*(reqCPU+r.PerObject.Seconds())/cores + b*r.PerByte*(r.WaitShare/par+(1-r.WaitShare)/cores)
	d := max(pipeline, b*r.Write) + b*r.SyncPerByte + syncsPerRestore*r.Sync.Seconds()
	return time.Duration(d * float64(time.Second)).Round(time.Millisecond)
}

// sampleEntries decodes every entry of the fetched segment src, passing
// each one's data to fn (renumbered: a sample need not be contiguous).
func sampleEntries(key string, c localCopy, ids []*crypt.Identity, fn func([]byte) error) error {
	src, done, err := openEntries(key, fetched{src: c}, ids)
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
	for _, ps := range p.Segments.All() {
		if len(out) == sampleObjects || n >= sampleBytes {
			break
		}
		if ps.Size > sampleMaxObject {
			continue
		}
		out = append(out, ps)
		n += ps.Size
	}
	if len(out) == 0 && p.Segments.Len() > 0 {
		small := p.Segments.At(0)
		for _, ps := range p.Segments.All() {
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
	n := p.Segments.Len()
	if p.Base != nil {
		n += p.Base.Chunks + 1
	}
	return n
}

// syncSampleMin is the least a measurement of the log's fsyncs writes.
const syncSampleMin = 4 << 20

// syncWrite times a new file of n bytes written and fsynced in dir, and
// dir fsynced.
func syncWrite(dir string, n int) (time.Duration, error) {
	b := make([]byte, n)
	rand.Read(b) // not zeros: a filesystem that compresses would not write those
	return timedSync(dir, b)
}

// syncSmall times what a restore's install does a few times: a small new
// file written and fsynced in dir, and dir fsynced.
func syncSmall(dir string) (time.Duration, error) {
	return timedSync(dir, []byte("walship\n"))
}

// timedSync times a new file holding b written and fsynced in dir, and dir
// fsynced; the file is removed.
func timedSync(dir string, b []byte) (time.Duration, error) {
	t := time.Now()
	f, err := os.CreateTemp(dir, "sync-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	return time.Since(t), err
}
