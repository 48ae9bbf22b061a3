package retention

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/walship/walship/segments"
)

// ErrBrokenHistory: a timeline a retained target needs has no readable
// record, or a record names a parent the store has no record of.
var ErrBrokenHistory = errors.New("timeline history broken")

// span is a run of positions of a history that one timeline supplies.
type span struct {
	tl        uint32
	from, to  uint64 // to is MaxUint64 for the history's own timeline
	gapBefore bool   // entries between the previous span and this one were lost
}

// history is the line of positions a timeline's restores can reach: its
// ancestors' entries up to the forks, then its own, in index order (across
// gaps, which split it into runs).
type history struct {
	tl    uint32
	chain []segments.Timeline // root first
	spans []span              // index order
	// leave[X] is the last position of ancestor X on this history (the
	// lowest fork below it); MaxUint64 for tl itself. A base on X is on the
	// history if its index <= leave[X].
	leave map[uint32]uint64
}

// history returns tl's history from the records.
func (inv *inventory) history(tl uint32) (*history, error) {
	h := &history{tl: tl, leave: map[uint32]uint64{}}
	for id := tl; id != 0; {
		rec, ok := inv.recs[id]
		if !ok {
			if id == tl {
				return nil, fmt.Errorf("%w: timeline %d has no record %s", ErrBrokenHistory, tl, segments.TimelineKey(tl))
			}
			return nil, fmt.Errorf("%w: timeline %d names parent %d, which has no record %s", ErrBrokenHistory,
				h.chain[len(h.chain)-1].ID, id, segments.TimelineKey(id))
		}
		if len(h.chain) > 0 && rec.ID >= h.chain[len(h.chain)-1].ID {
			return nil, fmt.Errorf("%w: timeline %d has parent %d", ErrBrokenHistory, h.chain[len(h.chain)-1].ID, rec.ID)
		}
		h.chain = append(h.chain, rec)
		id = rec.Parent
	}
	// Walk from tl to the root as pitr's resolve does: a timeline supplies
	// its own entries from StartIndex up to where its child forked.
	upper := uint64(math.MaxUint64)
	for _, rec := range h.chain {
		h.leave[rec.ID] = upper
		if rec.StartIndex <= upper {
			h.spans = append(h.spans, span{tl: rec.ID, from: rec.StartIndex, to: upper, gapBefore: rec.HasGap()})
		}
		if rec.Parent == 0 || rec.ForkIndex == 0 {
			break // the root, or a child that shares nothing with its parent
		}
		if rec.StartIndex > upper && upper > rec.ForkIndex {
			break // the child forked inside this timeline's gap: nothing before is reachable
		}
		upper = min(upper, rec.ForkIndex)
	}
	slices.Reverse(h.chain)
	slices.Reverse(h.spans)
	for i := range h.spans { // a gap only splits the history where a span precedes it
		if i == 0 {
			h.spans[i].gapBefore = false
		}
	}
	return h, nil
}

// start is the history's first position.
func (h *history) start() uint64 { return h.spans[0].from }

// find returns the span holding position p.
func (h *history) find(p uint64) (int, bool) {
	for i, s := range h.spans {
		if p >= s.from && p <= s.to {
			return i, true
		}
	}
	return 0, false
}

// runStart is the first position of the gap-free run holding p: where a
// restore without a base begins (pitr restores a timeline after a gap from
// its StartIndex, as the source log did). ok is false if p is on no span
// (inside a gap, or before the first shipped entry): such a target cannot be
// restored at all.
func (h *history) runStart(p uint64) (uint64, bool) {
	i, ok := h.find(p)
	if !ok {
		return 0, false
	}
	for i > 0 && !h.spans[i].gapBefore {
		i--
	}
	return h.spans[i].from, true
}

// prev returns the position before p on the history (the previous span's
// last position when p starts a span).
func (h *history) prev(p uint64) (uint64, bool) {
	i, ok := h.find(p)
	if !ok {
		return 0, false
	}
	if p > h.spans[i].from {
		return p - 1, true
	}
	if i > 0 {
		return h.spans[i-1].to, true
	}
	return 0, false
}

// onHistory reports whether a base (timeline, index) lies on the history.
func (h *history) onHistory(tl uint32, index uint64) bool {
	leave, ok := h.leave[tl]
	return ok && index <= leave
}

// piece is the part of a range of positions one timeline supplies.
type piece struct {
	tl       uint32
	from, to uint64
}

// pieces splits positions from..to of the history by timeline.
func (h *history) pieces(from, to uint64) []piece {
	var out []piece
	for _, s := range h.spans {
		a, b := max(from, s.from), min(to, s.to)
		if a <= b {
			out = append(out, piece{s.tl, a, b})
		}
	}
	return out
}

// bases returns the bases on the history, by index.
func (h *history) bases(all []baseInfo) []baseInfo {
	var out []baseInfo
	for _, b := range all {
		if h.onHistory(b.M.Timeline, b.M.Index) {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b baseInfo) int {
		switch {
		case a.M.Index < b.M.Index:
			return -1
		case a.M.Index > b.M.Index:
			return 1
		}
		return 0
	})
	return out
}

// newestAtOrBefore returns the bases at the highest index <= p (several if
// they tie: any of them may be the one a restore picks).
func newestAtOrBefore(onHist []baseInfo, p uint64) []baseInfo {
	var out []baseInfo
	for _, b := range onHist {
		switch {
		case b.M.Index > p:
			return out
		case len(out) > 0 && out[0].M.Index == b.M.Index:
			out = append(out, b)
		default:
			out = []baseInfo{b}
		}
	}
	return out
}
