package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// openSegment is the segment being filled: its entries wait in a spill
// file until it is sealed, then a sealPipe worker compresses them.
type openSegment struct {
	timeline  uint32
	format    wal.Format
	spill     *spill
	raw       uint64 // RawLen so far
	last      Position
	crcs      []uint32 // CRC32C of each entry, for sealed.crc
	firstRead time.Time
	ctx       context.Context // ends when the segment must be sealed by age
	cancel    context.CancelFunc
}

// runSealer reads the source and seals segments into the spool until ctx
// ends; then it seals what it holds and returns ctx's error. A state dir
// too full to seal into does not stop it (diskfull.go): what was not
// committed is discarded, the fault reported, and once the spool takes a
// write again sealing starts over from the last committed entry (resume).
func (a *Agent) runSealer(ctx context.Context) error {
	backoff := a.opt.DiskFullBackoff
	for {
		err := a.sealPass(ctx)
		if !isDiskFull(err) {
			return err
		}
		if ctx.Err() != nil {
			a.log.Warn("stopped while the state dir is full; the entries not sealed are read again at the next start", "err", err)
			return ctx.Err()
		}
		if !a.sealErr.active() {
			backoff = a.opt.DiskFullBackoff // a new episode
		}
		a.setSealErr(err)
		if err := a.retryDiskFull(ctx, &backoff, func() error { return a.resume(ctx, true) }); err != nil {
			return err
		}
	}
}

// sealPass is runSealer until ctx ends or sealing fails: the segment open
// then is discarded, and the pipe commits what was sealed before the
// failure (it takes nothing after one).
func (a *Agent) sealPass(ctx context.Context) (err error) {
	var seg *openSegment
	pipe := newSealPipe(ctx, a)
	defer func() {
		if seg != nil {
			seg.cancel() // its entries are read again at the next start
			seg.spill.remove()
			a.mu.Lock()
			a.openFirst = time.Time{}
			a.keepUnsealedLocked(seg.firstRead)
			a.mu.Unlock()
		}
		// A failure to commit what was sealed matters more than the stop.
		if perr := pipe.close(); perr != nil && (err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err())) {
			err = perr
		}
	}()
	seal := func(s *openSegment) error { return pipe.submit(s) }
	for {
		nctx, idle := ctx, context.CancelFunc(func() {})
		switch {
		case seg != nil:
			nctx = seg.ctx
		case a.sealErr.active():
			// Sealing resumed after the state dir was full: with nothing
			// to seal for a while, nothing is failing either.
			nctx, idle = context.WithTimeout(ctx, a.opt.SealInterval)
		}
		e, err := a.tail.Next(nctx)
		idle()
		if err == nil {
			if a.sourceErr.active() {
				a.setSourceErr(nil)
			}
			a.tailed.Store(e.Index)
			if seg == nil {
				if seg, err = a.startSegment(ctx, pipe); err != nil {
					return err
				}
			}
			crc := segments.CRC32C(e.Data)
			if err := seg.spill.add(segments.Entry{Index: e.Index, Time: e.Time.UnixNano(), Data: e.Data}, crc); err != nil {
				return err
			}
			seg.raw += segments.RawSize(len(e.Data))
			seg.last = Position{Index: e.Index, CRC: crc, HasCRC: true}
			seg.crcs = append(seg.crcs, seg.last.CRC)
			if int64(seg.raw) >= a.opt.SealSize {
				err, seg = seal(seg), nil
				if err != nil {
					return err
				}
			}
			continue
		}
		var tf *wal.TruncatedFrontError
		var rw *wal.RewrittenError
		switch {
		case ctx.Err() != nil:
			if seg != nil {
				err, seg = seal(seg), nil
				if err != nil {
					return err
				}
			}
			if err := pipe.flush(); err != nil {
				return err
			}
			return ctx.Err()
		case seg != nil && errors.Is(err, context.DeadlineExceeded):
			err, seg = seal(seg), nil
			if err != nil {
				return err
			}
		case seg == nil && errors.Is(err, context.DeadlineExceeded):
			if err := pipe.flush(); err != nil {
				return err
			}
			a.setSealErr(nil) // idle since it resumed, and the spool took the probe
		case errors.As(err, &tf):
			if seg != nil { // what was read before the truncation is good
				err, seg = seal(seg), nil
				if err != nil {
					return err
				}
			}
			if err := pipe.flush(); err != nil { // the gap starts after what is sealed
				return err
			}
			if err := a.startGapTimeline(tf.First); err != nil {
				return err
			}
		case errors.As(err, &rw):
			if seg != nil { // read again after the check
				seg.cancel()
				seg.spill.remove()
				a.mu.Lock()
				a.openFirst = time.Time{}
				a.mu.Unlock()
				seg = nil
			}
			if err := pipe.flush(); err != nil { // the check compares with everything sealed
				return err
			}
			a.log.Info("source segment rewritten; comparing with sealed history", "file", rw.File, "from", rw.From)
			if err := a.checkFork(ctx, rw.From, "seen live"); err != nil {
				return err
			}
		default:
			// A damaged source: what was read before the damage is sealed
			// and ships; /healthz names the damage; the read is tried again
			// (the database may rewrite or truncate the bad part).
			readErr := fmt.Errorf("read source %s: %w", a.opt.WALDir, err)
			if seg != nil {
				err, seg = seal(seg), nil
				if err != nil {
					return err
				}
			}
			a.setSourceErr(readErr)
			if !sleep(ctx, sourceBackoff) {
				continue // ctx ended: the case above returns
			}
		}
	}
}

// sourceBackoff is how often a source that failed to read is tried again.
const sourceBackoff = time.Second

// setSourceErr records why the source cannot be read (nil: it can), logging
// each change once.
func (a *Agent) setSourceErr(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	a.sourceErr.update(a.log, msg, err, slog.LevelError,
		"cannot read the source; entries before the damage are sealed and shipped, reading is retried",
		"source readable again", "source", a.opt.WALDir)
}

// startSegment opens the next segment, first starting a new timeline if a
// store came back after a gap (after every segment before is committed).
func (a *Agent) startSegment(ctx context.Context, pipe *sealPipe) (*openSegment, error) {
	a.mu.Lock()
	if a.st.TimelineDue != "" && len(a.inflight) > 0 {
		// The new timeline forks at the last sealed entry: commit every
		// segment in flight first (only this goroutine submits more).
		a.mu.Unlock()
		if err := pipe.flush(); err != nil {
			return nil, err
		}
		a.mu.Lock()
	}
	why := a.st.TimelineDue
	sealed := a.st.Sealed
	a.mu.Unlock()
	if why != "" {
		// A store came back after a gap: its history restarts here.
		if err := a.newTimeline(sealed.Index, sealed.Index+1, why, true); err != nil { // a base closes the gap
			return nil, err
		}
		a.metrics.timelinesStarted.WithLabelValues("store_gap").Inc()
	}
	sp, err := a.spool.newSpill()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	sctx, cancel := context.WithTimeout(ctx, a.opt.SealInterval)
	a.mu.Lock()
	tl := a.st.current().ID
	first := now
	if !a.unsealedSince.IsZero() { // its entries were read before, then discarded
		first, a.unsealedSince = a.unsealedSince, time.Time{}
	}
	a.openFirst = first
	a.mu.Unlock()
	return &openSegment{timeline: tl, format: a.tail.Format(), spill: sp, ctx: sctx, cancel: cancel, firstRead: first}, nil
}

// keepUnsealedLocked notes that entries first read at t were discarded
// unsealed (a.mu held).
func (a *Agent) keepUnsealedLocked(t time.Time) {
	if !t.IsZero() && (a.unsealedSince.IsZero() || t.Before(a.unsealedSince)) {
		a.unsealedSince = t
	}
}
