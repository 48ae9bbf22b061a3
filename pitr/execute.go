package pitr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
	"github.com/walship/walship/wal"
	"golang.org/x/sync/errgroup"
)

// Options tune Execute and Restore.
type Options struct {
	// WALDir is where the restored log goes; default OUT_DIR/wal. It must
	// not be OUT_DIR itself or above it.
	WALDir string
	// DataDir is where a plan's base snapshot files go; default
	// OUT_DIR/data. It must not be OUT_DIR or above it, nor the WAL
	// directory or inside or above it. Unused without a base.
	DataDir string
	// Force restores into a non-empty OUT_DIR, replacing an existing WAL
	// directory (and data directory, with a base) once the new ones are
	// complete (never before). It replaces only what OUT_DIR's restore
	// marker claims (an earlier walship restore's output) and refuses a
	// directory holding anything else.
	Force bool
	// Parallel is the number of concurrent segment downloads; default 4.
	// At most Parallel+1 segments are downloaded (or downloading) and not
	// yet written at any time, which bounds the temporary disk and memory
	// they take (segments up to 1 MiB are kept in memory, larger ones in
	// temporary files); a segment stored in at most 64 KiB counts as a
	// sixteenth of one, so up to 16*(Parallel+1) of those are.
	Parallel int
	// SegmentSize is the size at which a restored tidwall/wal file is
	// closed and the next begun; default 20 MiB, tidwall's default.
	SegmentSize int64
	// Progress, when set, is told the plan's objects (segments, and the
	// base's chunk references) and bytes (Plan.TotalBytes) at the start,
	// and each segment as it is written and each chunk as it is fetched.
	Progress Progress
	// Identities open encrypted segments (segments.ReadOptions).
	Identities []*crypt.Identity
	// Format is the format the restored log is written in, binary or JSON,
	// whatever the source's was: the entries' bytes are the same, tidwall
	// reads either. FormatAuto (zero): the source's (Plan.Format).
	Format wal.Format

	// observe, when set (by tests), is told the window's weight of the
	// segments downloaded or downloading but not yet written, on every
	// change (windowWeight each; at most windowSlots*(Parallel+1)).
	observe func(buffered int)
}

// The restore's window is counted in sixteenths of a segment. A segment
// whose stored size is at most smallStored weighs one, a larger one
// windowSlots: at most Parallel+1 large segments, or 16 times as many
// small ones, are fetched and not yet written. A window of Parallel+1
// one-second segments kept the writer and the decoders waiting on each
// other (a restore of 100,000 of them: 3.7-4.5 s with a window of 5,
// 2.4-2.8 s with 17, and less CPU); small segments take little memory: a
// small one is decoded whole only when it holds at most inlineDecodeMax
// bytes of entries, else the writer decodes it from its copy (it is never
// decoded ahead, which holds up to decodeAheadBytes), so the small ones in
// the window hold at most windowSlots*(Parallel+1) * (smallStored +
// inlineDecodeMax) bytes.
const (
	windowSlots = 16
	smallStored = 64 << 10
)

// windowWeight is what ps takes of the window.
func windowWeight(ps PlannedSegment) int {
	if ps.Size <= smallStored {
		return 1
	}
	return windowSlots
}

// Result says what Execute did.
type Result struct {
	Entries   uint64        // entries written
	From, To  uint64        // first and last index of the restored log (From = To+1: empty log)
	Bytes     int64         // segment bytes fetched
	Segments  int           // segments fetched
	Files     int           // tidwall/wal files written
	LogBytes  int64         // bytes of the restored log
	Format    wal.Format    // the restored log's format
	WALDir    string        // where the log is
	Base      string        // key of the base snapshot restored; "" without one
	DataDir   string        // where its files are; "" without a base
	BaseFiles int           // regular files restored from the base
	BaseBytes int64         // their bytes
	Elapsed   time.Duration // wall time of Execute
}

// Restore plans a restore of t and executes it: MakePlan, then Execute.
func Restore(ctx context.Context, st backends.Store, t Target, outDir string, o Options) (*Plan, Result, error) {
	p, err := MakePlanWith(ctx, st, t, PlanOptions{Identities: o.Identities})
	if err != nil {
		return nil, Result{}, err
	}
	r, err := Execute(ctx, st, p, outDir, o)
	return p, r, err
}

// Execute carries out a plan: it writes entries p.From..p.To as a
// tidwall/wal log into o.WALDir (default outDir/wal) and, when the plan has
// a base snapshot, the base's files into o.DataDir (default outDir/data).
// Both are built in temporary directories beside their destinations (at
// the same time) and installed as one unit only when both are complete,
// verified and synced, under the marker OUT_DIR/.walship-restore (see
// MarkerName for the protocol; CheckRestored tells a complete output from
// an interrupted one). On any error neither is left (existing ones, with
// Force, are untouched). Force replaces only an earlier restore's output.
// The log is written owner-only (0600 files, 0700 dir); base files keep
// the modes their manifest recorded.
//
// A log restored from a base starts at Base.Index+1: its first file is
// named by that index, as tidwall names it. When the target is the base's
// own index the log is empty: one empty file named Index+1, which
// tidwall/wal opens only with Options.AllowEmpty (FirstIndex Index+1,
// LastIndex Index) and then appends Index+1 to as the database would;
// without AllowEmpty it refuses it with ErrEmptyLog.
func Execute(ctx context.Context, st backends.Store, p *Plan, outDir string, o Options) (Result, error) {
	res, err := execute(ctx, st, p, outDir, o)
	if err != nil {
		return res, fmt.Errorf("restore into %s: %w", outDir, err)
	}
	return res, nil
}

func execute(ctx context.Context, st backends.Store, p *Plan, outDir string, o Options) (res Result, err error) {
	start := time.Now()
	switch {
	case p.Base == nil && (p.Segments.Len() == 0 || p.To < p.From):
		return res, errors.New("empty restore plan")
	case p.Base != nil && (p.From != p.Base.Index+1 || p.To+1 < p.From || (p.Segments.Len() == 0) != (p.To < p.From)):
		return res, fmt.Errorf("inconsistent restore plan: base at %d, entries %d..%d from %d segments", p.Base.Index, p.From, p.To, p.Segments.Len())
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.WALDir == "" {
		o.WALDir = filepath.Join(outDir, "wal")
	}
	prog := progressOr(o.Progress)
	if p.Base == nil {
		o.DataDir = ""
	} else if o.DataDir == "" {
		o.DataDir = filepath.Join(outDir, "data")
	}
	created, prev, err := prepareOutDir(outDir, o.WALDir, o.DataDir, o.Force)
	if err != nil {
		if created {
			os.Remove(outDir) // only if still empty
		}
		return res, err
	}
	absWAL, _ := filepath.Abs(o.WALDir) // checked by prepareOutDir
	absData := ""
	if o.DataDir != "" {
		absData, _ = filepath.Abs(o.DataDir)
	}
	var tmp, tmpData string
	defer func() {
		for _, d := range []string{tmp, tmpData} {
			if d == "" {
				continue
			}
			if rmErr := removeTree(d); rmErr != nil && err == nil {
				err = fmt.Errorf("remove temporary directory: %w", rmErr)
			}
		}
		if err != nil && created {
			os.Remove(outDir) // only if still empty
		}
	}()
	if tmp, err = os.MkdirTemp(filepath.Dir(o.WALDir), tempPrefix); err != nil {
		return res, fmt.Errorf("create temporary directory: %w", err)
	}
	dl := filepath.Join(tmp, "fetch")
	if err := os.Mkdir(dl, 0o700); err != nil {
		return res, fmt.Errorf("create temporary directory: %w", err)
	}
	format := p.Format
	switch {
	case o.Format != wal.FormatAuto:
		format = o.Format
	case p.Entries() == 0 && format != wal.FormatBinary && format != wal.FormatJSON:
		format = wal.FormatBinary // an empty file is the same in both formats
	}
	lw, err := newLogWriter(filepath.Join(tmp, "wal"), format, o.SegmentSize, p.From)
	if err != nil {
		return res, err
	}
	var builtData string
	objects := int64(p.Segments.Len())
	if p.Base != nil {
		objects += int64(p.Base.Chunks)
	}
	prog.Total(objects, p.TotalBytes())
	g, gctx := errgroup.WithContext(ctx)
	if p.Base != nil {
		if tmpData, err = os.MkdirTemp(filepath.Dir(o.DataDir), tempPrefix+"data-"); err != nil {
			return res, fmt.Errorf("create temporary directory: %w", err)
		}
		builtData = filepath.Join(tmpData, "data")
		g.Go(func() error {
			if err := snapshot.RestoreFilesWith(gctx, countChunks(chunkReplicas(st), prog), p.Base.Manifest, builtData, snapshot.RestoreOptions{Identities: o.Identities}); err != nil {
				return fmt.Errorf("base snapshot %s: %w", p.Base.Key, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		x := &executor{st: st, p: p, par: o.Parallel, dl: dl, lw: lw, observe: o.observe, prog: prog, ids: o.Identities}
		if err := x.run(gctx); err != nil {
			lw.abort()
			return err
		}
		if err := lw.Close(); err != nil {
			return err
		}
		if lw.next != p.To+1 {
			return fmt.Errorf("restore ended at entry %d, the plan needs up to %d", lw.next-1, p.To)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := p.Segments.Err(); err != nil { // a segment read from the plan's file may be wrong
		return res, err
	}
	in := &installation{outDir: outDir, walDir: o.WALDir, dataDir: o.DataDir, builtWAL: lw.dir, tmpWAL: tmp,
		builtData: builtData, tmpData: tmpData, prev: prev,
		m: Marker{WrittenBy: markerWrittenBy, Version: markerVersion, WALDir: absWAL, DataDir: absData,
			Store: p.Store, Timeline: p.Timeline, From: p.From, To: p.To, Time: time.Now().UTC()}}
	if p.Base != nil {
		in.m.Base = p.Base.Key
	}
	if err := in.run(); err != nil {
		return res, err
	}
	res = Result{Entries: p.Entries(), From: p.From, To: p.To, Bytes: p.Bytes, Segments: p.Segments.Len(),
		Files: lw.files, LogBytes: lw.bytes, Format: format, WALDir: o.WALDir, Elapsed: time.Since(start)}
	if p.Base != nil {
		res.Base, res.DataDir, res.BaseFiles, res.BaseBytes = p.Base.Key, o.DataDir, p.Base.Files, p.Base.Bytes
	}
	return res, nil
}

// executor fetches a plan's segments in parallel and writes them in order.
type executor struct {
	st      backends.Store
	p       *Plan
	par     int
	dl      string
	lw      *logWriter
	observe func(int)
	prog    Progress
	ids     []*crypt.Identity

	mu       sync.Mutex
	buffered int
	overlap  map[uint64]uint32 // CRCs of written entries the next segment repeats
}

// run fetches with x.par download workers and at most x.par+1 segments
// downloaded (or downloading) but not yet written, a small one counting as
// a sixteenth (windowWeight): its weight in window tokens is taken before
// a download starts and given back once the writer is done with that
// segment. Each download reports through a channel of its own, made when
// it starts and handed to the writer in plan order through order, so at
// most windowSlots*(x.par+1) exist at a time whatever the plan's length. The writer
// consumes segments strictly in plan order, so the error reported is that
// of the first bad segment in index order; a fetch error does not cancel
// the others, the writer's return does.
//
// The workers live as long as the restore, not a goroutine per segment: a
// history of one-second segments is fetched and decoded 100,000 times, and
// a new goroutine's stack grew to what zstd needs each time (runtime.
// newstack was 17% of such a restore's CPU). A small segment is decoded
// by one of a few long-lived decoders, not by the worker that fetched it:
// that worker goes back to downloading at once (decoding in the worker
// made a restore of 100,000 small segments from MinIO 7% slower).
func (x *executor) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		ps PlannedSegment
		ch chan fetched
	}
	window := make(chan struct{}, windowSlots*(x.par+1))
	order := make(chan chan fetched, windowSlots*(x.par+1)) // never full: a window token or more per channel in it
	jobs := make(chan job)
	type decodeJob struct {
		job
		src localCopy
		hdr segments.Header
	}
	decodes := make(chan decodeJob)
	var workers, decoders sync.WaitGroup
	for range x.par {
		workers.Go(func() {
			for j := range jobs {
				r := x.fetchOne(ctx, j.ps)
				if r.err == nil && r.dec == nil && decodeAheadBytes > 0 && r.hdr.RawLen <= inlineDecodeMax { // to a decoder
					decodes <- decodeJob{j, r.src, r.hdr}
					continue
				}
				j.ch <- r
			}
		})
	}
	for range max(1, min(x.par, runtime.GOMAXPROCS(0))) {
		decoders.Go(func() {
			for d := range decodes {
				d.ch <- fetched{hdr: d.hdr, dec: decodeNow(ctx, d.src, d.ps.To, d.hdr.Last, x.ids)}
			}
		})
	}
	go func() { // owned by run, which drains order (closed here) after the workers end
		defer close(order)
		defer close(jobs)
		for _, ps := range x.p.Segments.All() {
			w := windowWeight(ps)
			for range w {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			x.track(+w)
			ch := make(chan fetched, 1) // a download never waits for the writer
			order <- ch
			select {
			case jobs <- job{ps, ch}:
			case <-ctx.Done():
				ch <- fetched{err: ctx.Err()} // every channel in order gets its result
				return
			}
		}
	}()
	pending, err := x.writeAll(ctx, order, window)
	cancel()
	var unwritten []chan fetched
	if pending != nil {
		unwritten = append(unwritten, pending)
	}
	for ch := range order { // ends once the dispatcher has returned
		unwritten = append(unwritten, ch)
	}
	workers.Wait()
	close(decodes)
	decoders.Wait()                // every channel now holds its result
	for _, ch := range unwritten { // segments fetched and never written: their decoders end with ctx
		if r := <-ch; r.dec != nil {
			r.dec.Close()
		}
	}
	return err
}

// fetchOne downloads and checks one segment and, when decoding ahead,
// starts a goroutine of its own decoding a segment of more than
// inlineDecodeMax entry bytes; a smaller one comes back undecoded (dec
// nil), for a decoder. So does a larger one that took a small share of
// the window (windowWeight), for the writer to decode.
func (x *executor) fetchOne(ctx context.Context, ps PlannedSegment) fetched {
	src, hdr, err := fetch(ctx, x.st, x.dl, ps, x.p.Format, x.ids)
	r := fetched{src: src, hdr: hdr, err: err}
	if err != nil || decodeAheadBytes <= 0 || hdr.RawLen <= inlineDecodeMax || windowWeight(ps) < windowSlots {
		return r
	}
	r.src, r.dec = localCopy{}, decodeStream(ctx, src, ps.To, hdr.Last, decodeAheadBytes, x.ids)
	return r
}

func (x *executor) track(d int) {
	x.mu.Lock()
	x.buffered += d
	n := x.buffered
	x.mu.Unlock()
	if x.observe != nil {
		x.observe(n)
	}
}

// writeAll writes the segments in plan order as their downloads report.
// On an early return it also returns the channel it was waiting on, if
// any, so run can release what that download holds.
func (x *executor) writeAll(ctx context.Context, order chan chan fetched, window chan struct{}) (chan fetched, error) {
	for i := range x.p.Segments.Len() {
		var ch chan fetched
		select {
		case ch = <-order:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if ch == nil { // closed: the dispatcher stopped (ctx ended)
			return nil, ctx.Err()
		}
		var r fetched
		select {
		case r = <-ch:
		case <-ctx.Done():
			return ch, ctx.Err()
		}
		if r.err != nil {
			return nil, r.err
		}
		err := x.writeSegment(i, r)
		r.src.remove()
		ps := x.p.Segments.At(i)
		w := windowWeight(ps)
		x.track(-w)
		for range w {
			<-window
		}
		if err != nil {
			return nil, err
		}
		x.prog.Add(1, ps.Size)
	}
	return nil, nil
}

// writeSegment decodes a fetched segment (per-entry CRC32C) and writes the
// entries the plan takes from it. Entries before ps.From were written from
// the previous segment already; where that segment held them too they must
// be identical.
func (x *executor) writeSegment(i int, r fetched) error {
	ps := x.p.Segments.At(i)
	var keepFrom uint64 // remember CRCs from this index for the next segment's check
	if i+1 < x.p.Segments.Len() {
		if nx := x.p.Segments.At(i + 1); nx.Timeline == ps.Timeline && nx.Name.First <= ps.To {
			keepFrom = nx.Name.First
		}
	}
	dups := x.overlap
	x.overlap = nil
	var keep map[uint64]uint32
	if keepFrom != 0 {
		keep = map[uint64]uint32{}
	}

	rd, done, err := openEntries(ps.Key(), r, x.ids)
	if err != nil {
		return err
	}
	defer done()
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("segment %s: %w: ends at entry %d, the plan needs up to %d", ps.Key(), ErrCorrupt, x.lw.next-1, ps.To)
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", ps.Key(), err)
		}
		if e.Index < ps.From {
			if want, ok := dups[e.Index]; ok && want != segments.CRC32C(e.Data) {
				return fmt.Errorf("segment %s: %w: entry %d differs from the same entry in %s (overlapping segments disagree); run walship verify",
					ps.Key(), ErrCorrupt, e.Index, x.p.Segments.At(i-1).Key())
			}
			continue
		}
		if err := x.lw.Append(e.Index, e.Data); err != nil {
			return err
		}
		if keep != nil && e.Index >= keepFrom {
			keep[e.Index] = segments.CRC32C(e.Data)
		}
		if e.Index == ps.To {
			break
		}
	}
	if ps.To == r.hdr.Last {
		// Read to the end so the reader's own final checks run too.
		if _, err := rd.Next(); !errors.Is(err, io.EOF) {
			return fmt.Errorf("segment %s: %w: after its last entry: %v", ps.Key(), ErrCorrupt, err)
		}
	}
	x.overlap = keep
	return nil
}
