package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/walship/walship/backends"
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
		var decide func(n segments.SegmentName) (string, error)
		if _, ok := pl.records[tl]; !ok {
			decide = func(n segments.SegmentName) (string, error) {
				return fmt.Sprintf("entries %d..%d of timeline %d, which is on no retained target's history", n.First, n.Last, tl), nil
			}
		} else {
			cut, why := ss.last, fmt.Sprintf("no retained target replays entries of timeline %d (its record stays for a history; its newest segment stays so a restore of it fails clearly rather than stopping short)", tl)
			if n, ok := pl.need[tl]; ok && n <= cut {
				cut, why = n, pl.needWhy[tl]
			}
			decide = func(n segments.SegmentName) (string, error) {
				switch {
				case n.First >= cut:
					return "", errCutReached
				case n.Last >= cut:
					return "", nil
				}
				return fmt.Sprintf("entries %d..%d of timeline %d: wholly before entry %d, the first of timeline %d kept: %s", n.First, n.Last, tl, cut, tl, why), nil
			}
		}
		deleted := 0
		prefix := segments.TimelinePrefix(tl)
		err := pl.st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
			n, err := segments.ParseSegmentKey(oi.Key)
			if err != nil || n.Timeline != tl {
				return nil // counted as not walship's by the first listing, if it was there
			}
			reason, err := decide(n)
			if err != nil || reason == "" {
				return err
			}
			plan.Segments = append(plan.Segments, Deletion{Kind: KindSegment, Key: oi.Key, Size: oi.Size, Reason: reason})
			deleted++
			return nil
		})
		if err != nil && !errors.Is(err, errCutReached) {
			return fmt.Errorf("list %s in %s: %w", prefix, pl.st, err)
		}
		plan.Kept[KindSegment] += max(ss.n-deleted, 0)
	}
	return nil
}
