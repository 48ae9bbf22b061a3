package pitr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// atTime returns the index a time target ends at: the entry before the
// first entry, in index order along tl's history, whose time is after at.
// Entry times need not grow with the index, so this is the first such entry,
// not a search. Segments whose key says every entry is <= at are passed by
// on the key alone; only the first segment whose newest entry is later is
// fetched and decoded (and the next ones, if the later entries of that
// segment lie outside the history, as a parent's entries past a fork do).
func (pl *planner) atTime(ctx context.Context, tl uint32, at time.Time) (uint64, error) {
	latest, err := pl.latest(ctx, tl)
	if err != nil {
		return 0, err
	}
	// Every entry along the history, across gaps: if the first later entry
	// follows a gap, the target falls in lost entries and resolve says so.
	spans, _, err := pl.tls.resolve(tl, latest, true)
	if err != nil {
		return 0, err
	}
	ns := at.UnixNano()
	first := spans[0].From
	for i, sp := range spans {
		if i > 0 && sp.From > spans[i-1].To+1 {
			pl.timeScan = append(pl.timeScan, Span{Timeline: sp.Timeline, From: spans[i-1].To + 1, To: sp.From - 1})
		}
		segs, err := pl.segments(ctx, sp.Timeline)
		if err != nil {
			return 0, err
		}
		// Holes are passed over here: if the target lies after one, the
		// segment cover of the final plan reports it (unless a base
		// snapshot after the hole makes it unneeded: timeNotes).
		// The walk stops at the segment holding the first entry after
		// the target time, or at a read that fails: the holes kept are
		// those before it, the ones a base snapshot at or before the
		// target can hide (timeNotes).
		var (
			idx   uint64
			et    int64
			found bool
			rerr  error
		)
		holes, err := pl.cover(sp.Timeline, segs, sp.From, sp.To, func(ps PlannedSegment) bool {
			if ps.Name.MaxTime <= ns {
				return true
			}
			idx, et, found, rerr = firstAfter(ctx, pl.st, ps, ns, pl.ids)
			return rerr == nil && !found
		})
		pl.timeScan = append(pl.timeScan, holes...)
		if rerr != nil {
			return 0, rerr
		}
		if err != nil {
			return 0, err
		}
		if found {
			if idx == first {
				return 0, fmt.Errorf("%w: the first entry of timeline %d's history (entry %d, time %s) is after %s; restorable instead: %s--time >= %s or %s--index %d",
					ErrNotRestorable, tl, idx, fmtTime(et), fmtTime(ns), pl.timelineFlag(), fmtTime(et), pl.timelineFlag(), idx)
			}
			return idx - 1, nil
		}
	}
	pl.note(fmt.Sprintf("no stored entry of timeline %d's history is after %s: restoring its latest entry %d", tl, fmtTime(ns), latest))
	return latest, nil
}

// firstAfter decodes a segment and returns the first entry in ps.From..ps.To
// whose time is after ns.
func firstAfter(ctx context.Context, st backends.Store, ps PlannedSegment, ns int64, ids []*crypt.Identity) (idx uint64, t int64, found bool, err error) {
	rc, ps, err := getSegment(ctx, st, ps, 0, -1)
	if err != nil {
		return 0, 0, false, err
	}
	defer rc.Close()
	r, err := segments.NewReaderWith(bufio.NewReaderSize(rc, segments.ReadBuffer(ps.Size)), segments.ReadOptions{Identities: ids})
	if err != nil {
		return 0, 0, false, fmt.Errorf("segment %s: %w", ps.Key(), err)
	}
	defer r.Close()
	if err := checkName(ps.Key(), ps.Name, r.Header()); err != nil {
		return 0, 0, false, err
	}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("segment %s: %w", ps.Key(), err)
		}
		if e.Index > ps.To {
			return 0, 0, false, nil
		}
		if e.Index >= ps.From && e.Time > ns {
			return e.Index, e.Time, true, nil
		}
	}
}

// timeNotes says, for a time target restored from a base at index
// baseIndex, which entries the time scan could not see: they are in the base
// but in no stored segment, so their times are unknown and the target
// assumes none of them is later than the target time.
func (pl *planner) timeNotes(baseIndex uint64) {
	if pl.t.Time.IsZero() {
		return
	}
	for _, s := range pl.timeScan {
		if s.From <= baseIndex {
			pl.note(fmt.Sprintf("entries %d..%d are in the base snapshot but in no stored segment, so their times are unknown: the time target assumes none of them is after %s (--index gives an exact position)",
				s.From, min(s.To, baseIndex), fmtTime(pl.t.Time.UnixNano())))
		}
	}
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
