package agent

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// sealPipe compresses sealed segments on every core while the sealer reads
// the next ones, and commits them to the spool strictly in order:
//
//	sealer --submit--> jobs --> workers (segments.Writer into open-N.tmp, fsync;
//	   |                                  an encrypted copy per recipient set)
//	   \                                     |
//	    +--> order (FIFO) --> committer: wait for the job, sealed.crc, rename
//	                          into the spool, state.json, wake the shippers
//
// At most depth segments are submitted and not yet committed (submit blocks
// beyond that), which bounds the memory their entries take. Every change
// to the agent's state happens in the committer, in sealing order, as the
// sealer did it alone before; the sealer calls flush before anything that
// reads that state (a fork check, a new timeline) or when it stops.
type sealPipe struct {
	a     *Agent
	ctx   context.Context // the sealer's: bounds waiting for spool room only
	jobs  chan *sealJob
	order chan *sealJob
	slots chan struct{}
	wg    sync.WaitGroup // submitted jobs not yet committed or discarded
	done  sync.WaitGroup // workers and committer

	mu  sync.Mutex
	err error // the first commit or write failure: the pipe takes no more
}

// sealJob is one segment on its way to the spool.
type sealJob struct {
	seg   *openSegment
	ready chan struct{} // closed when path/hdr/err are set
	path  string
	hdr   segments.Header
	vars  []sealedVariant // encrypted copies, one per recipient set
	err   error
}

// sealWorkers is how many segments are compressed at once.
func sealWorkers() int { return max(1, min(runtime.GOMAXPROCS(0), 4)) }

func newSealPipe(ctx context.Context, a *Agent) *sealPipe {
	n := sealWorkers()
	p := &sealPipe{a: a, ctx: ctx, jobs: make(chan *sealJob, n+1), order: make(chan *sealJob, n+1), slots: make(chan struct{}, n+1)}
	p.done.Add(n + 1)
	for range n {
		go func() {
			defer p.done.Done()
			for j := range p.jobs {
				j.path, j.hdr, j.err = a.writeSegment(j.seg)
				if j.err == nil {
					if j.vars, j.err = a.writeVariants(j.path); j.err != nil {
						a.spool.discard(j.path)
						j.path = ""
					}
				}
				close(j.ready)
			}
		}()
	}
	go func() {
		defer p.done.Done()
		for j := range p.order {
			<-j.ready
			committed := false
			if err := p.failed(); err != nil || j.err != nil {
				if j.path != "" {
					a.spool.discard(j.path)
				}
				discardVariants(j.vars)
				p.fail(j.err)
			} else {
				var err error
				committed, err = a.commitSegment(ctx, j)
				p.fail(err)
			}
			a.mu.Lock()
			a.inflight = a.inflight[1:]
			if !committed {
				a.keepUnsealedLocked(j.seg.firstRead)
			}
			a.mu.Unlock()
			<-p.slots
			p.wg.Done()
		}
	}()
	return p
}

func (p *sealPipe) fail(err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *sealPipe) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// submit hands seg to the workers, waiting while depth segments are in
// flight. It returns the pipe's failure, if any.
func (p *sealPipe) submit(seg *openSegment) error {
	seg.cancel()
	if err := p.failed(); err != nil {
		seg.spill.remove()
		return err
	}
	if err := seg.spill.finish(); err != nil {
		seg.spill.remove()
		return err
	}
	p.slots <- struct{}{} // the committer always frees slots: never stuck
	p.a.mu.Lock()
	p.a.inflight = append(p.a.inflight, seg.firstRead)
	p.a.openFirst = time.Time{}
	p.a.mu.Unlock()
	j := &sealJob{seg: seg, ready: make(chan struct{})}
	p.wg.Add(1)
	p.order <- j
	p.jobs <- j
	return nil
}

// flush waits until every submitted segment is committed (or discarded
// after a failure) and returns the pipe's failure.
func (p *sealPipe) flush() error {
	p.wg.Wait()
	return p.failed()
}

// close flushes and stops the goroutines.
func (p *sealPipe) close() error {
	err := p.flush()
	close(p.jobs)
	close(p.order)
	p.done.Wait()
	return err
}

// writeSegment compresses seg's entries into a new open file of the spool
// and fsyncs it (a worker's part): the file's path and the header.
func (a *Agent) writeSegment(seg *openSegment) (path string, hdr segments.Header, err error) {
	defer seg.spill.remove()
	f, err := a.spool.create()
	if err != nil {
		return "", hdr, err
	}
	defer func() {
		if err != nil {
			f.Close()
			a.spool.discard(f.Name())
		}
	}()
	w, err := segments.NewWriter(f, seg.timeline, uint8(seg.format), a.opt.Codec)
	if err != nil {
		return "", hdr, err
	}
	if err = seg.spill.seal(w); err != nil {
		w.Abort()
		return "", hdr, err
	}
	if hdr, err = w.Finish(); err != nil {
		return "", hdr, fmt.Errorf("seal segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", hdr, fmt.Errorf("spool: fsync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return "", hdr, fmt.Errorf("spool: close %s: %w", f.Name(), err)
	}
	return f.Name(), hdr, nil
}

// commitSegment makes a written segment the newest sealed one (the
// committer's part): its encrypted copies into place, its CRCs into
// sealed.crc, then its spool name, then state.json; it wakes the shippers
// and waits while the spool is over its bound. committed says whether the
// spool holds it, also when an error follows.
func (a *Agent) commitSegment(ctx context.Context, j *sealJob) (committed bool, err error) {
	hdr, seg := j.hdr, j.seg
	name := itemName(segments.NameOf(hdr))
	variants, err := a.commitVariants(j.vars, name)
	if err != nil {
		a.spool.discard(j.path)
		return false, err
	}
	if err := a.crc.appendCRCs(hdr.First, seg.crcs); err != nil { // before the spool names the segment
		a.spool.discard(j.path)
		a.removeVariants(name, variants)
		return false, err
	}
	if err := a.spool.commit(j.path, name); err != nil {
		a.spool.discard(j.path)
		a.removeVariants(name, variants)
		a.crc.truncate(hdr.First - 1)
		return false, err
	}
	a.mu.Lock()
	a.st.Sealed = seg.last
	a.st.SealedItem = name
	if a.st.Format == 0 {
		a.st.Format = wal.Format(hdr.SourceFormat)
	}
	a.items = append(a.items, name)
	a.info[name] = itemInfo{size: hdr.ObjectSize(), variants: variants, last: hdr.Last, firstRead: seg.firstRead}
	a.walSinceSnapshot.Add(int64(hdr.RawLen))
	err = a.saveState()
	a.mu.Unlock()
	if err != nil && !isDiskFull(err) {
		return true, err
	}
	// Committed even if state.json could not be saved for a full state dir:
	// the spool names the segment, as after a crash between the two (a
	// start adopts it), and the save is retried. Sealing pauses all the same.
	a.log.Debug("sealed segment", "timeline", hdr.Timeline, "first", hdr.First, "last", hdr.Last,
		"raw_bytes", hdr.RawLen, "stored_bytes", hdr.PayloadLen)
	for _, sh := range a.shippers {
		sh.wake()
	}
	if err != nil {
		return true, err
	}
	if a.sealErr.active() {
		a.setSealErr(nil)
	}
	if err := a.waitSpool(ctx); err != nil && ctx.Err() == nil {
		return true, err
	}
	return true, nil
}
