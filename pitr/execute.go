package pitr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"golang.org/x/sync/errgroup"
)

// Options tune Execute and Restore.
type Options struct {
	// WALDir is where the restored log goes; default OUT_DIR/wal. It must
	// not be OUT_DIR itself or above it.
	WALDir string
	// Force restores into a non-empty OUT_DIR, replacing an existing WAL
	// directory once the new log is complete (never before).
	Force bool
	// Parallel is the number of concurrent segment downloads; default 4.
	// At most Parallel+1 segments are downloaded (or downloading) and not
	// yet written at any time, which bounds the temporary disk use.
	Parallel int
	// SegmentSize is the size at which a restored tidwall/wal file is
	// closed and the next begun; default 20 MiB, tidwall's default.
	SegmentSize int64

	// observe, when set (by tests), is told how many segments are
	// downloaded or downloading but not yet written, on every change.
	observe func(buffered int)
}

// Result says what Execute did.
type Result struct {
	Entries  uint64        // entries written
	From, To uint64        // first and last index of the restored log
	Bytes    int64         // segment bytes fetched
	Segments int           // segments fetched
	Files    int           // tidwall/wal files written
	LogBytes int64         // bytes of the restored log
	WALDir   string        // where the log is
	Elapsed  time.Duration // wall time of Execute
}

// Restore plans a restore of t and executes it: MakePlan, then Execute.
func Restore(ctx context.Context, st backends.Store, t Target, outDir string, o Options) (*Plan, Result, error) {
	p, err := MakePlan(ctx, st, t)
	if err != nil {
		return nil, Result{}, err
	}
	r, err := Execute(ctx, st, p, outDir, o)
	return p, r, err
}

// Execute carries out a plan: it writes entries p.From..p.To as a
// tidwall/wal log into o.WALDir (default outDir/wal). The log is built in a
// temporary directory inside the WAL directory's parent and renamed into
// place only when every entry is written and synced; on any error nothing
// is left at the WAL directory (an existing one, with Force, is untouched).
func Execute(ctx context.Context, st backends.Store, p *Plan, outDir string, o Options) (Result, error) {
	res, err := execute(ctx, st, p, outDir, o)
	if err != nil {
		return res, fmt.Errorf("restore into %s: %w", outDir, err)
	}
	return res, nil
}

func execute(ctx context.Context, st backends.Store, p *Plan, outDir string, o Options) (res Result, err error) {
	start := time.Now()
	if len(p.Segments) == 0 || p.To < p.From {
		return res, errors.New("empty restore plan")
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
	created, err := prepareOutDir(outDir, o.WALDir, o.Force)
	if err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(o.WALDir), ".walship-restore-")
	if err != nil {
		return res, fmt.Errorf("create temporary directory: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = fmt.Errorf("remove temporary directory: %w", rmErr)
		}
		if err != nil && created {
			os.Remove(outDir) // only if still empty
		}
	}()
	dl := filepath.Join(tmp, "fetch")
	if err := os.Mkdir(dl, 0o700); err != nil {
		return res, fmt.Errorf("create temporary directory: %w", err)
	}
	lw, err := newLogWriter(filepath.Join(tmp, "wal"), p.Format, o.SegmentSize, p.From)
	if err != nil {
		return res, err
	}
	x := &executor{st: st, p: p, par: o.Parallel, dl: dl, lw: lw, observe: o.observe}
	if err := x.run(ctx); err != nil {
		lw.abort()
		return res, err
	}
	if err := lw.Close(); err != nil {
		return res, err
	}
	if lw.next != p.To+1 {
		return res, fmt.Errorf("restore ended at entry %d, the plan needs up to %d", lw.next-1, p.To)
	}
	if err := install(lw.dir, o.WALDir, tmp); err != nil {
		return res, err
	}
	res = Result{Entries: p.Entries(), From: p.From, To: p.To, Bytes: p.Bytes, Segments: len(p.Segments),
		Files: lw.files, LogBytes: lw.bytes, WALDir: o.WALDir, Elapsed: time.Since(start)}
	return res, nil
}

// prepareOutDir creates outDir if needed, or refuses a non-empty one without
// force. created says whether it made outDir, to remove it again on failure.
func prepareOutDir(outDir, walDir string, force bool) (created bool, err error) {
	absOut, err1 := filepath.Abs(outDir)
	absWAL, err2 := filepath.Abs(walDir)
	if err := errors.Join(err1, err2); err != nil {
		return false, err
	}
	if rel, err := filepath.Rel(absWAL, absOut); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return false, fmt.Errorf("the WAL directory %s must not be the output directory or above it", walDir)
	}
	fi, err := os.Stat(outDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return false, fmt.Errorf("create output directory: %w", err)
		}
		created = true
	case err != nil:
		return false, fmt.Errorf("output directory: %w", err)
	case !fi.IsDir():
		return false, fmt.Errorf("output directory %s is not a directory", outDir)
	case !force:
		if err := refuseNonEmpty(outDir); err != nil {
			return false, err
		}
	}
	if !force {
		// A WAL directory outside OUT_DIR must be empty too.
		if err := refuseNonEmpty(walDir); err != nil {
			return created, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(walDir), 0o755); err != nil {
		return created, fmt.Errorf("create parent of the WAL directory: %w", err)
	}
	return created, nil
}

func refuseNonEmpty(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: %s holds %q...; restore into an empty or new directory, or pass --force to replace its WAL directory", ErrOutDirNotEmpty, dir, names)
	}
	return nil
}

// install renames the finished log to walDir, moving an existing walDir
// into tmp (removed by the caller) first.
func install(built, walDir, tmp string) error {
	_, err := os.Lstat(walDir)
	switch {
	case err == nil:
		old := filepath.Join(tmp, "replaced")
		if err := os.Rename(walDir, old); err != nil {
			return fmt.Errorf("move the existing %s aside: %w", walDir, err)
		}
		if err := os.Rename(built, walDir); err != nil {
			if rbErr := os.Rename(old, walDir); rbErr != nil {
				return fmt.Errorf("install %s: %w (and putting the old one back failed: %v; it is in %s)", walDir, err, rbErr, old)
			}
			return fmt.Errorf("install %s: %w", walDir, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Rename(built, walDir); err != nil {
			return fmt.Errorf("install %s: %w", walDir, err)
		}
	default:
		return fmt.Errorf("install %s: %w", walDir, err)
	}
	return syncDir(filepath.Dir(walDir))
}

// executor fetches a plan's segments in parallel and writes them in order.
type executor struct {
	st      backends.Store
	p       *Plan
	par     int
	dl      string
	lw      *logWriter
	observe func(int)

	mu       sync.Mutex
	buffered int
	overlap  map[uint64]uint32 // CRCs of written entries the next segment repeats
}

// run fetches with at most x.par downloads at once (errgroup SetLimit) and
// at most x.par+1 segments downloaded (or downloading) but not yet written:
// a window token is taken before a download starts and given back once the
// writer is done with that segment. The writer consumes segments strictly in
// plan order, so the error reported is that of the first bad segment in
// index order; a fetch error does not cancel the others, the writer's
// return does.
func (x *executor) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan fetched, len(x.p.Segments))
	for i := range results {
		results[i] = make(chan fetched, 1) // a download never waits for the writer
	}
	window := make(chan struct{}, x.par+1)
	var g errgroup.Group // downloads report through results, never through Wait
	g.SetLimit(x.par)
	dispatched := make(chan struct{})
	go func() { // owned by run, which waits for it before g.Wait
		defer close(dispatched)
		for i, ps := range x.p.Segments {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			x.track(+1)
			g.Go(func() error {
				path, hdr, err := fetch(ctx, x.st, x.dl, ps, x.p.Format)
				results[i] <- fetched{path: path, hdr: hdr, err: err}
				return nil
			})
		}
	}()
	err := x.writeAll(ctx, results, window)
	cancel()
	<-dispatched
	g.Wait()
	return err
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

func (x *executor) writeAll(ctx context.Context, results []chan fetched, window chan struct{}) error {
	for i := range x.p.Segments {
		var r fetched
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		err := x.writeSegment(i, r)
		os.Remove(r.path)
		x.track(-1)
		<-window
		if err != nil {
			return err
		}
	}
	return nil
}

// writeSegment decodes a fetched segment (per-entry CRC32C) and writes the
// entries the plan takes from it. Entries before ps.From were written from
// the previous segment already; where that segment held them too they must
// be identical.
func (x *executor) writeSegment(i int, r fetched) error {
	ps := x.p.Segments[i]
	var keepFrom uint64 // remember CRCs from this index for the next segment's check
	if i+1 < len(x.p.Segments) {
		if nx := x.p.Segments[i+1]; nx.Timeline == ps.Timeline && nx.Name.First <= ps.To {
			keepFrom = nx.Name.First
		}
	}
	dups := x.overlap
	x.overlap = nil
	var keep map[uint64]uint32
	if keepFrom != 0 {
		keep = map[uint64]uint32{}
	}

	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("segment %s: %w", ps.Key, err)
	}
	defer f.Close()
	rd, err := segments.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return fmt.Errorf("segment %s: %w", ps.Key, err)
	}
	defer rd.Close()
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("segment %s: %w: ends at entry %d, the plan needs up to %d", ps.Key, ErrCorrupt, x.lw.next-1, ps.To)
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", ps.Key, err)
		}
		if e.Index < ps.From {
			if want, ok := dups[e.Index]; ok && want != segments.CRC32C(e.Data) {
				return fmt.Errorf("segment %s: %w: entry %d differs from the same entry in %s (overlapping segments disagree); run walship verify",
					ps.Key, ErrCorrupt, e.Index, x.p.Segments[i-1].Key)
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
			return fmt.Errorf("segment %s: %w: after its last entry: %v", ps.Key, ErrCorrupt, err)
		}
	}
	x.overlap = keep
	return nil
}
