package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// migrator is one Run.
type migrator struct {
	st  backends.Store
	o   Options
	tgt target
	res *Result
	mu  sync.Mutex // res during execution
}

// Run migrates st (see the package doc). It plans first: every segment's
// header and every record are read, and if any object needs an identity
// that was not given it fails (crypt.ErrNoIdentity, naming the
// fingerprints) before anything is written. Objects it cannot migrate
// (damaged, changed meanwhile, a store error on one object) are listed in
// Result.Problems and left as they are; the error is for a failure of the
// whole run (a listing, a cancelled context).
func Run(ctx context.Context, st backends.Store, o Options) (*Result, error) {
	start := time.Now()
	o = o.withDefaults()
	if len(o.Recipients) > segments.MaxRecipients {
		return nil, fmt.Errorf("migrate %s: %d recipients, at most %d", st, len(o.Recipients), segments.MaxRecipients)
	}
	fps := crypt.Fingerprints(o.Recipients)
	if len(fps) == 0 {
		fps = nil
	}
	m := &migrator{st: st, o: o, tgt: target{fps: fps},
		res: &Result{Store: st.String(), DryRun: o.DryRun, Format: segments.Version2, Recipients: fps}}
	fams, err := m.listSegments(ctx)
	if err != nil {
		return nil, err
	}
	if fams, err = m.readHeaders(ctx, fams); err != nil {
		return nil, err
	}
	p := &plan{}
	m.classify(fams, p)
	if err := m.planRecords(ctx, p); err != nil {
		return nil, err
	}
	if err := m.planBases(ctx, p); err != nil {
		return nil, err
	}
	if err := m.planKeys(ctx, p); err != nil {
		return nil, err
	}
	if err := m.lockedError(p); err != nil {
		return m.res, err
	}
	if !o.DryRun {
		if err := m.execute(ctx, p); err != nil {
			return m.res, err
		}
	}
	m.res.Elapsed = time.Since(start)
	return m.res, nil
}

// execute rewrites the planned segments (o.Parallel at once), finishes
// interrupted ones, then swaps the records.
func (m *migrator) execute(ctx context.Context, p *plan) error {
	var total int64
	for _, f := range p.rewrite {
		total += f.objs[f.src].size
	}
	for _, r := range p.records {
		total += r.size
	}
	for _, b := range p.bases.rewrite {
		total += b.size
	}
	m.o.Progress.Total(int64(len(p.rewrite)+len(p.records)+len(p.bases.rewrite)), total)
	m.res.Segments.Rewrite, m.res.Segments.Bytes = 0, 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.o.Parallel)
	for _, f := range p.finish {
		g.Go(func() error {
			return m.step(gctx, f.top().key, func() error { return m.finish(gctx, f) }, func() { m.res.Segments.Finished++ })
		})
	}
	for _, f := range p.rewrite {
		size := f.objs[f.src].size
		g.Go(func() error {
			return m.step(gctx, f.top().key, func() error { return m.rewrite(gctx, f) }, func() {
				m.res.Segments.Rewrite++
				m.res.Segments.Bytes += size
				m.o.Progress.Add(1, size)
			})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := m.executeRecords(ctx, p); err != nil {
		return err
	}
	return m.executeBases(ctx, p)
}

// executeRecords swaps the planned records (backends.Swapper).
func (m *migrator) executeRecords(ctx context.Context, p *plan) error {
	if len(p.records) == 0 {
		return nil
	}
	sw, ok := backends.AsSwapper(m.st)
	for _, r := range p.records {
		r.kind.Rewrite--
		r.kind.Bytes -= r.size
	}
	for _, r := range p.records {
		var err error
		if ok {
			err = m.swapRecord(ctx, sw, r)
		}
		if !ok || errors.Is(err, errors.ErrUnsupported) {
			ok = false
			r.kind.Left++
			continue
		}
		if err := m.step(ctx, r.key, func() error { return err }, func() {
			r.kind.Rewrite++
			r.kind.Bytes += r.size
			m.o.Progress.Add(1, r.size)
		}); err != nil {
			return err
		}
	}
	if !ok {
		m.note(fmt.Sprintf("%s offers no compare-and-swap: %d timeline record(s) and %d point(s) were left as they are (replacing them by a delete and a create would leave a moment without them)",
			m.st, m.res.Timelines.Left, m.res.Points.Left))
	}
	return nil
}

// step runs one object's work: success is counted by done, a failure of
// the object alone becomes a Problem; a cancelled context stops the run.
func (m *migrator) step(ctx context.Context, key string, work func() error, done func()) error {
	err := work()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil:
		done()
		return nil
	case ctx.Err() != nil:
		return err
	}
	m.res.Problems = append(m.res.Problems, Problem{Key: key, Problem: err.Error()})
	return nil
}

func (m *migrator) verified(entries bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if entries {
		m.res.Verified.Entries++
	} else {
		m.res.Verified.Headers++
	}
}

func (m *migrator) note(s string) { m.res.Notes = append(m.res.Notes, s) }

func (m *migrator) list(ctx context.Context, prefix string, fn func(backends.ObjectInfo)) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	err := m.st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
		fn(oi)
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: list %s in %s: %w", prefix, m.st, err)
	}
	return nil
}

func (m *migrator) get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	rc, err := m.st.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, segments.MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

func (m *migrator) put(ctx context.Context, key string, f *os.File, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	if err := m.st.Put(ctx, key, f, size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// deleteAll deletes objs, the older generations of a segment whose new
// one was checked.
func (m *migrator) deleteAll(ctx context.Context, objs []member) error {
	for _, o := range objs {
		cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
		err := m.st.Delete(cctx, o.key)
		cancel()
		if err != nil {
			return fmt.Errorf("delete %s: %w", o.key, err)
		}
		m.mu.Lock()
		m.res.Segments.Deleted++
		m.mu.Unlock()
	}
	return nil
}
