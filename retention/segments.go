package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// errCutReached ends a timeline's listing at its first segment prune keeps
// for good: every later key starts at or after the cut.
var errCutReached = errors.New("listing reached the cut")

// segmentDeletions decides the segments to delete, timeline by timeline,
// from a second listing of each timeline that has any: the inventory kept
// only counts (segStats). A timeline on a retained history is listed from
// its first key to its first segment that starts at or after the cut, in
// key order (by first index): only what is deleted, and one key more. One
// on no retained history is listed whole, to delete it all. A segment
// shipped between the two listings is judged by the same rule: it is
// deleted only if it ends before the cut.
func (pl *planner) segmentDeletions(ctx context.Context) error {
	inv, plan := pl.inv, pl.plan
	tls := make([]uint32, 0, len(inv.segs))
	for tl := range inv.segs {
		tls = append(tls, tl)
	}
	slices.Sort(tls)
	for _, tl := range tls {
		ss := inv.segs[tl]
		if _, ok := inv.recs[tl]; !ok {
			plan.Kept[KindSegment] += ss.n
			pl.note(fmt.Sprintf("timeline %d has %d segment(s) but no record (the record may still be on its way): its segments are kept", tl, ss.n))
			continue
		}
		// why is the reason a segment is deleted; deletes decides which
		// are (errCutReached: none from here on).
		var why func(n segments.SegmentName) string
		deletes := func(segments.SegmentName) (bool, error) { return true, nil }
		if _, ok := pl.records[tl]; !ok {
			why = func(n segments.SegmentName) string {
				return fmt.Sprintf("entries %d..%d of timeline %d, which is on no retained target's history", n.First, n.Last, n.Timeline)
			}
		} else {
			cut, because := ss.last, fmt.Sprintf("no retained target replays entries of timeline %d (its record stays for a history; its newest segment stays so a restore of it fails clearly rather than stopping short)", tl)
			if n, ok := pl.need[tl]; ok && n <= cut {
				cut, because = n, pl.needWhy[tl]
			}
			why = func(n segments.SegmentName) string {
				return fmt.Sprintf("entries %d..%d of timeline %d: wholly before entry %d, the first of timeline %d kept: %s", n.First, n.Last, n.Timeline, cut, n.Timeline, because)
			}
			deletes = func(n segments.SegmentName) (bool, error) {
				if n.First >= cut {
					return false, errCutReached
				}
				return n.Last < cut, nil
			}
		}
		deleted := 0
		prefix := segments.TimelinePrefix(tl)
		err := pl.st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
			n, err := segments.ParseSegmentKey(oi.Key)
			if err != nil || n.Timeline != tl {
				return nil // counted as not walship's by the first listing, if it was there
			}
			del, err := deletes(n)
			if err != nil || !del {
				return err
			}
			plan.Segments.add(pitr.SegmentInfo{Name: n, Size: oi.Size}, why)
			deleted++
			return nil
		})
		if err != nil && !errors.Is(err, errCutReached) {
			return fmt.Errorf("list %s in %s: %w", prefix, pl.st, err)
		}
		plan.Kept[KindSegment] += max(ss.n-deleted, 0)
	}
	if err := plan.Segments.Err(); err != nil {
		return fmt.Errorf("keep the segments to delete: %w", err)
	}
	return nil
}
