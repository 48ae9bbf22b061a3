package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// checkFork compares the source with the sealed history from index from on
// and, if the database rewrote entries the agent had sealed (TruncateBack),
// starts a new timeline at the last entry both agree on. It then positions
// the tailer after the last sealed entry of the (possibly new) timeline.
func (a *Agent) checkFork(ctx context.Context, from uint64, why string) error {
	var fork uint64
	var err error
	for attempt := 0; ; attempt++ {
		fork, err = a.findFork(ctx, from)
		if err == nil {
			break
		}
		if errors.Is(err, errHistoryMissing) {
			// Nothing to compare with: treat every entry from `from` on as
			// possibly changed. A needless new timeline is honest; a missed
			// rewrite would not be.
			a.log.Warn("cannot compare the source with sealed entries; assuming they changed", "from", from, "err", err)
			fork = from - 1
			break
		}
		var rw *wal.RewrittenError
		var tf *wal.TruncatedFrontError
		if attempt >= 50 || !(errors.As(err, &rw) || errors.As(err, &tf) || errors.Is(err, errSourceMoved)) {
			return fmt.Errorf("compare source with sealed history: %w", err)
		}
		// The log changed while it was read; look again.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	a.mu.Lock()
	sealed := a.st.Sealed.Index
	a.mu.Unlock()
	if fork >= sealed {
		return a.tail.Seek(sealed + 1)
	}
	reason := fmt.Sprintf("TruncateBack (%s): source entries from %d on differ from the %d..%d walship had sealed", why, fork+1, fork+1, sealed)
	if err := a.newTimeline(fork, fork+1, reason); err != nil {
		return err
	}
	a.metrics.timelinesStarted.WithLabelValues("truncate_back").Inc()
	return a.tail.Seek(fork + 1)
}

var errSourceMoved = errors.New("source log changed while it was compared")

// findFork returns the last index k <= the sealed index such that the source
// entries from..k equal the sealed history. Entries before from are known
// unchanged (the tailer saw their files untouched). If the entry at from
// already differs, the search widens to the source segment before it.
func (a *Agent) findFork(ctx context.Context, from uint64) (uint64, error) {
	first, last, err := a.tail.Bounds()
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	sealed := a.st.Sealed.Index
	root := a.st.chain(a.st.current().ID)
	a.mu.Unlock()
	floor := max(first, root[len(root)-1].StartIndex)
	hi := min(sealed, last)
	lo := max(from, floor)
	for lo <= hi {
		src := make([]uint32, hi-lo+1)
		err := a.tail.Scan(lo, hi, func(e wal.Entry) error {
			src[e.Index-lo] = segments.CRC32C(e.Data)
			return nil
		})
		if err != nil {
			return 0, err
		}
		mismatch := uint64(0)
		err = a.sealedCRCs(ctx, lo, hi, func(idx uint64, crc uint32) {
			if mismatch == 0 && src[idx-lo] != crc {
				mismatch = idx
			}
		})
		if err != nil {
			return 0, err
		}
		switch {
		case mismatch == 0:
			return hi, nil
		case mismatch > lo || lo <= floor:
			return mismatch - 1, nil
		}
		// The very first compared entry differs: look one source segment
		// further back.
		prev, err := a.tail.SegmentStart(lo - 1)
		if err != nil {
			return 0, err
		}
		hi, lo = lo-1, max(prev, floor)
	}
	return hi, nil
}

// startGapTimeline handles a TruncateFront past the agent's position:
// entries after the last sealed one are gone from the source. The new
// timeline records the gap and starts at the log's new first entry.
func (a *Agent) startGapTimeline(first uint64) error {
	a.mu.Lock()
	sealed := a.st.Sealed.Index
	a.mu.Unlock()
	reason := fmt.Sprintf("TruncateFront: source entries %d..%d were removed before walship read them", sealed+1, first-1)
	if err := a.newTimeline(sealed, first, reason); err != nil {
		return err
	}
	a.metrics.timelinesStarted.WithLabelValues("truncate_front").Inc()
	a.gapSnapshotDue.Store(true) // a base closes the gap
	return a.tail.Seek(first)
}

// newTimeline records timeline N+1 forking from the current one after
// entry fork, with its own entries starting at start, and persists it
// before anything of it is sealed.
func (a *Agent) newTimeline(fork, start uint64, reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.st.current()
	t := segments.Timeline{ID: cur.ID + 1, Parent: cur.ID, ForkIndex: fork, StartIndex: start,
		Reason: reason, Time: time.Now().UTC()}
	if _, err := segments.EncodeTimeline(t); err != nil {
		return err
	}
	a.st.Timelines = append(a.st.Timelines, t)
	a.st.Sealed = Position{Index: start - 1}
	if err := a.saveState(); err != nil {
		return err
	}
	a.log.Warn("new timeline: the source log changed under walship", "timeline", t.ID, "parent", t.Parent,
		"fork_index", fork, "start_index", start, "reason", reason)
	return nil
}
