package pitr

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// checkHistory checks parent links and the continuity of each timeline's
// own range: from its StartIndex to the furthest of its segments' last
// entries and its children's fork points.
// It returns the timelines that hold at least one intact segment.
func (r *Report) checkHistory(recs map[uint32]segments.Timeline, unreadable map[uint32]bool, segs segSeq, intact bits) (held map[uint32]bool, err error) {
	held = map[uint32]bool{}
	end := map[uint32]uint64{}
	for i := range segs.Len() {
		s := segs.At(i)
		tl := s.Name.Timeline
		end[tl] = max(end[tl], s.Name.Last)
		if intact.has(i) {
			held[tl] = true
		}
	}
	byTL, _, err := byTimeline(segs, intact.has, nil)
	if err != nil {
		return nil, err
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
		seq := byTL[tl]
		if seq == nil {
			seq = segSlice(nil)
		}
		holes := cover(tl, seq, rec.StartIndex, last, nil)
		if err := seq.Err(); err != nil {
			return nil, err
		}
		for _, h := range holes {
			r.Gaps = append(r.Gaps, Gap(h))
		}
	}
	slices.SortFunc(r.Lost, func(a, b Gap) int { return cmp.Compare(a.Timeline, b.Timeline) })
	return held, nil
}

// settlePrefixes moves out of Gaps the holes prune makes on purpose. Prune
// deletes a timeline's segments only as a prefix (those wholly before the
// first entry a retained target replays), so a hole that does not start at
// the timeline's StartIndex is always damage. A prefix hole is what prune
// removes when no restore through it can still begin:
//
//   - an intact base of the same timeline at or after its last entry holds
//     it (BeforeBase); or
//   - the timeline has children, and every child that shares positions of
//     the hole (ForkIndex >= its first entry) has those positions before
//     an intact base on its own history: a base of this timeline at or
//     after them, or any base in the child's subtree reached by forks that
//     share entries (every such base lies after the fork); or the child
//     was left behind itself: it holds no intact segment of its own, and
//     each of its children that shares positions of the hole meets one of
//     these rules in turn (a child that shares none, as one started anew or
//     forked before the hole, needs nothing of it). The hole is then part
//     of a timeline later timelines have left behind (Retired).
//
// The newest timeline (no children) keeps a prefix hole as a GAP unless a
// base of its own covers it: nothing later replaced what it held.
func (r *Report) settlePrefixes(recs map[uint32]segments.Timeline, bases []snapshot.ManifestInfo, held map[uint32]bool) {
	children := map[uint32][]segments.Timeline{}
	for _, rec := range recs {
		if rec.Parent != 0 {
			children[rec.Parent] = append(children[rec.Parent], rec)
		}
	}
	baseOn := func(tl uint32, atLeast uint64) bool {
		return slices.ContainsFunc(bases, func(b snapshot.ManifestInfo) bool { return b.Timeline == tl && b.Index >= atLeast })
	}
	// subtreeBase reports whether tl or a descendant reached through forks
	// that share entries (ForkIndex > 0) has an intact base.
	var subtreeBase func(tl uint32, depth int) bool
	subtreeBase = func(tl uint32, depth int) bool {
		if baseOn(tl, 0) {
			return true
		}
		if depth > len(recs) { // a cycle in damaged records: be strict
			return false
		}
		for _, c := range children[tl] {
			if c.ForkIndex > 0 && subtreeBase(c.ID, depth+1) {
				return true
			}
		}
		return false
	}
	// leftBehind reports whether child c of a timeline with a hole from
	// `from` on needs none of the hole: nothing of its own can be restored
	// (no intact segment, or its own start retired), and a newer timeline
	// in its place for every position of the hole.
	retired := map[uint32]bool{} // timelines whose own start is Retired
	var leftBehind func(c segments.Timeline, from uint64, depth int) bool
	leftBehind = func(c segments.Timeline, from uint64, depth int) bool {
		if held[c.ID] && !retired[c.ID] || len(children[c.ID]) == 0 || depth > len(recs) {
			return false
		}
		for _, k := range children[c.ID] {
			if k.ForkIndex >= from && !subtreeBase(k.ID, 0) && !leftBehind(k, from, depth+1) {
				return false
			}
		}
		return true
	}
	settle := func(g Gap) bool {
		rec, ok := recs[g.Timeline]
		if !ok || g.From != rec.StartIndex {
			return false
		}
		if baseOn(g.Timeline, g.To) {
			r.BeforeBase = append(r.BeforeBase, g)
			return true
		}
		kids := children[g.Timeline]
		if len(kids) == 0 {
			return false
		}
		for _, c := range kids {
			if c.ForkIndex < g.From {
				continue // shares none of the hole
			}
			if !baseOn(g.Timeline, min(g.To, c.ForkIndex)) && !subtreeBase(c.ID, 0) && !leftBehind(c, g.From, 0) {
				return false
			}
		}
		r.Retired = append(r.Retired, g)
		retired[g.Timeline] = true
		return true
	}
	// A child's start retired may retire its parent's: to a fixed point.
	for n := -1; n != len(r.Gaps); {
		n = len(r.Gaps)
		r.Gaps = slices.DeleteFunc(r.Gaps, settle)
	}
}
