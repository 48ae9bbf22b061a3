package pitr

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/walship/walship/segments"
)

// checkHistory checks parent links and the continuity of each timeline's
// own range: from its StartIndex to the furthest of its segments' last
// entries and its children's fork points.
func (r *Report) checkHistory(recs map[uint32]segments.Timeline, unreadable map[uint32]bool, segs []SegmentInfo, intact []bool) {
	byTL := map[uint32][]SegmentInfo{}
	end := map[uint32]uint64{}
	for i, s := range segs {
		tl := s.Name.Timeline
		end[tl] = max(end[tl], s.Name.Last)
		if intact[i] {
			byTL[tl] = append(byTL[tl], s)
		}
	}
	for _, rec := range recs {
		if rec.Parent == 0 {
			continue
		}
		if _, ok := recs[rec.Parent]; !ok {
			r.damage(segments.TimelineKey(rec.ID), fmt.Sprintf("parent timeline %d has no readable record %s: this timeline's history cannot be followed",
				rec.Parent, segments.TimelineKey(rec.Parent)))
			continue
		}
		end[rec.Parent] = max(end[rec.Parent], rec.ForkIndex)
		if rec.HasGap() {
			r.Lost = append(r.Lost, Gap{Timeline: rec.ID, From: rec.ForkIndex + 1, To: rec.StartIndex - 1})
		}
	}
	for tl, last := range end {
		rec, ok := recs[tl]
		if !ok && unreadable[tl] {
			continue
		}
		if !ok {
			r.damage(segments.TimelineKey(tl), fmt.Sprintf("missing: timeline %d has segments but no readable timeline record, so no restore can use them", tl))
			continue
		}
		if last < rec.StartIndex {
			continue
		}
		_, holes := cover(tl, byTL[tl], rec.StartIndex, last)
		for _, h := range holes {
			r.Gaps = append(r.Gaps, Gap(h))
		}
	}
	slices.SortFunc(r.Lost, func(a, b Gap) int { return cmp.Compare(a.Timeline, b.Timeline) })
}
