package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// openSegment is the segment being filled.
type openSegment struct {
	f         *os.File
	w         *segments.Writer
	timeline  uint32
	last      Position
	crcs      []uint32 // CRC32C of each entry, for sealed.crc
	firstRead time.Time
	ctx       context.Context // ends when the segment must be sealed by age
	cancel    context.CancelFunc
}

// runSealer reads the source and seals segments into the spool until ctx
// ends; then it seals what it holds and returns ctx's error.
func (a *Agent) runSealer(ctx context.Context) error {
	var seg *openSegment
	defer func() {
		if seg != nil {
			seg.cancel()
			seg.w.Abort()
			a.spool.discard(seg.f)
		}
	}()
	for {
		nctx := ctx
		if seg != nil {
			nctx = seg.ctx
		}
		e, err := a.tail.Next(nctx)
		if err == nil {
			if a.sourceBroken.Load() {
				a.setSourceErr(nil)
			}
			a.tailed.Store(e.Index)
			if seg == nil {
				if seg, err = a.startSegment(ctx); err != nil {
					return err
				}
			}
			if err := seg.w.Append(segments.Entry{Index: e.Index, Time: e.Time.UnixNano(), Data: e.Data}); err != nil {
				return fmt.Errorf("seal entry %d: %w", e.Index, err)
			}
			seg.last = Position{Index: e.Index, CRC: segments.CRC32C(e.Data), HasCRC: true}
			seg.crcs = append(seg.crcs, seg.last.CRC)
			if int64(seg.w.RawLen()) >= a.opt.SealSize {
				err, seg = a.seal(ctx, seg), nil
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
				err, seg = a.seal(ctx, seg), nil
				if err != nil {
					return err
				}
			}
			return ctx.Err()
		case seg != nil && errors.Is(err, context.DeadlineExceeded):
			err, seg = a.seal(ctx, seg), nil
			if err != nil {
				return err
			}
		case errors.As(err, &tf):
			if seg != nil { // what was read before the truncation is good
				err, seg = a.seal(ctx, seg), nil
				if err != nil {
					return err
				}
			}
			if err := a.startGapTimeline(tf.First); err != nil {
				return err
			}
		case errors.As(err, &rw):
			if seg != nil { // read again after the check
				seg.cancel()
				seg.w.Abort()
				a.spool.discard(seg.f)
				seg = nil
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
				err, seg = a.seal(ctx, seg), nil
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
	a.mu.Lock()
	prev := a.sourceErr
	a.sourceErr = msg
	a.mu.Unlock()
	a.sourceBroken.Store(msg != "")
	switch {
	case msg == prev:
	case msg == "":
		a.log.Info("source readable again", "source", a.opt.WALDir)
	default:
		a.log.Error("cannot read the source; entries before the damage are sealed and shipped, reading is retried", "err", err)
	}
}

func (a *Agent) startSegment(ctx context.Context) (*openSegment, error) {
	a.mu.Lock()
	why := a.forkWhy
	a.forkWhy = ""
	sealed := a.st.Sealed
	a.mu.Unlock()
	if why != "" {
		// A store came back after a gap: its history restarts here.
		if err := a.newTimeline(sealed.Index, sealed.Index+1, why); err != nil {
			return nil, err
		}
		a.metrics.timelinesStarted.WithLabelValues("store_gap").Inc()
		a.gapSnapshotDue.Store(true) // a base closes the gap
	}
	now := time.Now()
	f, err := a.spool.create()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	tl := a.st.current().ID
	a.mu.Unlock()
	format := a.tail.Format()
	w, err := segments.NewWriter(f, tl, uint8(format), a.opt.Codec)
	if err != nil {
		a.spool.discard(f)
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, a.opt.SealInterval)
	a.mu.Lock()
	a.openFirst = now
	a.mu.Unlock()
	return &openSegment{f: f, w: w, timeline: tl, ctx: sctx, cancel: cancel, firstRead: now}, nil
}

// seal makes seg durable in the spool, records it as the newest sealed
// segment and wakes the shippers.
func (a *Agent) seal(ctx context.Context, seg *openSegment) error {
	seg.cancel()
	hdr, err := seg.w.Finish()
	if err != nil {
		a.spool.discard(seg.f)
		return fmt.Errorf("seal segment: %w", err)
	}
	name := itemName(segments.NameOf(hdr))
	if err := a.crc.appendCRCs(hdr.First, seg.crcs); err != nil { // before the spool names the segment
		a.spool.discard(seg.f)
		return err
	}
	if err := a.spool.commit(seg.f, name); err != nil {
		a.crc.truncate(hdr.First - 1)
		return err
	}
	a.mu.Lock()
	a.st.Sealed = seg.last
	a.st.SealedItem = name
	if a.st.Format == 0 {
		a.st.Format = wal.Format(hdr.SourceFormat)
	}
	a.items = append(a.items, name)
	a.info[name] = itemInfo{size: hdr.ObjectSize(), last: hdr.Last, firstRead: seg.firstRead}
	a.walSinceSnapshot.Add(int64(hdr.RawLen))
	a.openFirst = time.Time{}
	err = a.saveState()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	a.log.Debug("sealed segment", "timeline", hdr.Timeline, "first", hdr.First, "last", hdr.Last,
		"raw_bytes", hdr.RawLen, "stored_bytes", hdr.PayloadLen)
	for _, sh := range a.shippers {
		sh.wake()
	}
	return a.waitSpool(ctx)
}
