package pitr

import "math"

// cover picks, from one timeline's segments sorted by first index, the ones
// that hold entries from..to in order, and the runs of entries that no
// segment holds. Where segments overlap it takes, at each point, the segment
// that reaches furthest; the entries of a picked segment that an earlier
// one already supplied are duplicates (PlannedSegment.From is past them).
func cover(tl uint32, segs []SegmentInfo, from, to uint64) (used []PlannedSegment, holes []Span) {
	next := from
	i := 0
	for next <= to {
		best := -1
		for ; i < len(segs) && segs[i].Name.First <= next; i++ {
			if segs[i].Name.Last >= next && (best < 0 || segs[i].Name.Last > segs[best].Name.Last) {
				best = i
			}
		}
		if best < 0 {
			end := to
			if i < len(segs) {
				end = min(segs[i].Name.First-1, to)
			}
			holes = append(holes, Span{Timeline: tl, From: next, To: end})
			if end == math.MaxUint64 {
				break
			}
			next = end + 1
			continue
		}
		s := segs[best]
		end := min(s.Name.Last, to)
		used = append(used, PlannedSegment{Key: s.Key, Name: s.Name, Size: s.Size, Timeline: s.Name.Timeline, From: next, To: end})
		if end == math.MaxUint64 {
			break
		}
		next = end + 1
	}
	return used, holes
}
