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
		if errors.Is(err, errForkUnknown) {
			first, _, _ := a.tail.Bounds()
			return a.startUnknownForkTimeline(fmt.Sprintf("TruncateBack below the source's first entry: %v; entries before %d cannot be compared, so none of them is claimed", err, first))
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
		if attempt >= 50 || !(errors.As(err, &rw) || errors.As(err, &tf) || errors.Is(err, errSourceMoved) || errors.Is(err, wal.ErrLogEnded)) {
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
	if err := a.newTimeline(fork, fork+1, reason, false); err != nil {
		return err
	}
	a.metrics.timelinesStarted.WithLabelValues("truncate_back").Inc()
	return a.tail.Seek(fork + 1)
}

var errSourceMoved = errors.New("source log changed while it was compared")

// errForkUnknown: the very first entry the source still holds differs from
// the sealed history, and the entries before it, which the history also
// holds, are gone from the source: nothing shows where the rewrite began.
var errForkUnknown = errors.New("the source's first entry differs from the sealed history")

// findFork returns the last index k <= the sealed index such that the
// source entries up to k equal the sealed history, as far as the source
// still holds them. Entries from `from` on are compared first (the tailer
// saw the files before it untouched while it ran); if the first of them
// already differs, every entry the source holds is compared. Sealed CRCs
// come from STATE/sealed.crc; entries sealed before that file existed come
// from the spool and the stores (findForkSealed).
func (a *Agent) findFork(ctx context.Context, from uint64) (uint64, error) {
	first, last, err := a.tail.Bounds()
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	sealed := a.st.Sealed.Index
	root := a.st.chain(a.st.current().ID)
	a.mu.Unlock()
	histStart := root[len(root)-1].StartIndex
	lo := max(first, histStart)
	hi := min(sealed, last)
	if lo > hi {
		return hi, nil
	}
	cb, ce, ok := a.crc.covers()
	if !ok || ce < hi {
		cb = hi + 1 // nothing (or not enough) covered: compare all from the sealed history
	}
	if cb > lo { // entries sealed before sealed.crc existed
		fork, err := a.findForkSealed(ctx, max(from, lo), min(hi, cb-1))
		if err != nil || fork < min(hi, cb-1) {
			return fork, err
		}
	}
	start := max(from, lo, cb)
	m, err := a.crcMismatch(start, hi)
	if err == nil && m == start && start > max(lo, cb) {
		m, err = a.crcMismatch(max(lo, cb), hi) // the rewrite may begin earlier
	}
	switch {
	case err != nil:
		return 0, err
	case m == 0:
		return hi, nil
	case m == lo && lo > histStart:
		return 0, fmt.Errorf("%w: entry %d (the history goes back to %d)", errForkUnknown, lo, histStart)
	}
	return m - 1, nil
}

// crcMismatch returns the first index in lo..hi whose source entry differs
// from sealed.crc, or 0 when all agree.
func (a *Agent) crcMismatch(lo, hi uint64) (uint64, error) {
	if lo > hi {
		return 0, nil
	}
	src := make([]uint32, 0, min(hi-lo+1, 1<<16))
	var mismatch uint64
	flush := func(upto uint64) error {
		base := upto - uint64(len(src)) + 1
		err := a.crc.read(base, upto, func(idx uint64, crc uint32) bool {
			if src[idx-base] != crc {
				mismatch = idx
				return false
			}
			return true
		})
		src = src[:0]
		return err
	}
	err := a.tail.Scan(lo, hi, func(e wal.Entry) error {
		src = append(src, segments.CRC32C(e.Data))
		if len(src) == cap(src) {
			if err := flush(e.Index); err != nil {
				return err
			}
			if mismatch != 0 {
				return errStop
			}
		}
		return nil
	})
	if err == nil && len(src) > 0 && mismatch == 0 {
		err = flush(hi)
	}
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	return mismatch, nil
}

// findForkSealed is findFork over from..hi against the sealed history in
// the spool and the stores, for entries sealed before STATE/sealed.crc
// existed. If the entry at from already differs, the search widens to the
// source segment before it.
func (a *Agent) findForkSealed(ctx context.Context, from, hi uint64) (uint64, error) {
	first, _, err := a.tail.Bounds()
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	root := a.st.chain(a.st.current().ID)
	a.mu.Unlock()
	floor := max(first, root[len(root)-1].StartIndex)
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
	if err := a.newTimeline(sealed, first, reason, true); err != nil { // a base closes the gap
		return err
	}
	a.metrics.timelinesStarted.WithLabelValues("truncate_front").Inc()
	return a.tail.Seek(first)
}

// startUnknownForkTimeline starts a timeline that claims no entry of its
// parent, at the source's first entry: the source cannot show which of the
// sealed entries it still shares (a rewrite below its first entry, or a
// TruncateFront past everything sealed while walship was stopped). A
// restore of it starts at that entry, as after a TruncateFront; a base
// closes the gap; the older history stays restorable on its own timeline.
func (a *Agent) startUnknownForkTimeline(reason string) error {
	first, _, err := a.tail.Bounds()
	if err != nil {
		return err
	}
	if err := a.newTimeline(0, first, reason, true); err != nil {
		return err
	}
	a.metrics.timelinesStarted.WithLabelValues("unknown_fork").Inc()
	return a.tail.Seek(first)
}

// lastClaimed returns the newest entry, at most the sealed one, that the
// current history holds: the current timeline's own sealed entries, else
// what it shares with its ancestors up to its fork; 0 when it holds none.
func (s *state) lastClaimed() uint64 {
	n := s.Sealed.Index
	for _, t := range s.chain(s.current().ID) {
		if n >= t.StartIndex {
			return n
		}
		if t.Parent == 0 || t.ForkIndex == 0 {
			return 0
		}
		n = min(n, t.ForkIndex)
	}
	return 0
}

// newTimeline records timeline N+1 forking from the current one after
// entry fork, with its own entries starting at start, and persists it
// before anything of it is sealed. It satisfies a pending TimelineDue;
// wantBase records, in the same save, that a base snapshot is due. When
// the save fails the timeline is forgotten again (the state dir is full:
// the sealer pauses and finds the same fork when it resumes).
func (a *Agent) newTimeline(fork, start uint64, reason string, wantBase bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.st.current()
	was := *a.st
	t := segments.Timeline{ID: cur.ID + 1, Parent: cur.ID, ForkIndex: fork, StartIndex: start,
		Reason: reason, Time: time.Now().UTC()}
	if _, err := segments.EncodeTimeline(t); err != nil {
		return err
	}
	a.st.Timelines = append(a.st.Timelines, t)
	a.st.Sealed = Position{Index: start - 1}
	a.st.TimelineDue = ""
	a.st.BaseDue = a.st.BaseDue || wantBase
	if err := a.saveState(); err != nil {
		a.st.Timelines, a.st.Sealed, a.st.TimelineDue, a.st.BaseDue = was.Timelines, was.Sealed, was.TimelineDue, was.BaseDue
		return err
	}
	if wantBase {
		a.gapSnapshotDue.Store(true)
	}
	// sealed.crc follows the new history: the entries up to the fork, or,
	// after a gap, nothing before the timeline's first entry.
	var err error
	if start == fork+1 {
		err = a.crc.truncate(fork)
	} else {
		err = a.crc.reset(start)
	}
	if err != nil {
		return err
	}
	a.log.Warn("new timeline: the source log changed under walship", "timeline", t.ID, "parent", t.Parent,
		"fork_index", fork, "start_index", start, "reason", reason)
	return nil
}
