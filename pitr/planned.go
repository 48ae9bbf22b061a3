package pitr

import (
	"encoding/binary"
	"iter"

	"github.com/walship/walship/internal/spill"
	"github.com/walship/walship/segments"
)

// PlannedSegment is a segment a restore fetches and the entries it uses.
type PlannedSegment struct {
	Name     segments.SegmentName
	Size     int64 // from the listing; the fetched object must match it
	Timeline uint32
	From, To uint64 // entries used from it
	regen    bool   // another generation, fetched because the planned one was gone
}

// Key returns the segment's object key (Name's canonical form).
func (p PlannedSegment) Key() string { return p.Name.Key() }

// PlannedSegments are a plan's segments in index order. Past a few
// thousand they are kept in a temporary file, not in memory (spill.Table), so a
// plan of a long history of small segments holds a block of them. Err says
// whether reading them failed; Execute checks it before it installs.
type PlannedSegments struct{ t *spill.Table[PlannedSegment] }

// plannedOf makes PlannedSegments of a list (tests, plans made by hand).
func plannedOf(list []PlannedSegment) PlannedSegments {
	return PlannedSegments{spill.Of(plannedCodec, list)}
}

// Len is the number of segments.
func (s PlannedSegments) Len() int { return s.t.Len() }

// At returns segment i (0 <= i < Len).
func (s PlannedSegments) At(i int) PlannedSegment { return s.t.At(i) }

// All yields every segment with its position, in order.
func (s PlannedSegments) All() iter.Seq2[int, PlannedSegment] {
	return func(yield func(int, PlannedSegment) bool) {
		for i := range s.Len() {
			if !yield(i, s.At(i)) {
				return
			}
		}
	}
}

// Slice returns every segment in memory (tests and small plans).
func (s PlannedSegments) Slice() []PlannedSegment {
	out := make([]PlannedSegment, 0, s.Len())
	for _, ps := range s.All() {
		out = append(out, ps)
	}
	return out
}

// Err is the first failure to keep or read the segments, if any.
func (s PlannedSegments) Err() error { return s.t.Err() }

func (s *PlannedSegments) add(ps PlannedSegment) {
	if s.t == nil {
		s.t = spill.New(plannedCodec)
	}
	s.t.Append(ps)
}

// plannedCodec lays out a PlannedSegment in 64 bytes, big-endian: its
// name and size as segInfoCodec lays out a SegmentInfo, then the rest.
//
//	0  the SegmentInfo (segInfoCodec, 40 bytes)
//	40 Timeline  u32
//	44 regen     u8 (0 or 1), 3 bytes zero
//	48 From      u64
//	56 To        u64
var plannedCodec = spill.Codec[PlannedSegment]{
	Size: 64,
	Put: func(b []byte, p PlannedSegment) {
		segInfoCodec.Put(b, SegmentInfo{Size: p.Size, Name: p.Name})
		be := binary.BigEndian
		be.PutUint32(b[40:], p.Timeline)
		b[44], b[45], b[46], b[47] = 0, 0, 0, 0
		if p.regen {
			b[44] = 1
		}
		be.PutUint64(b[48:], p.From)
		be.PutUint64(b[56:], p.To)
	},
	Get: func(b []byte) PlannedSegment {
		s := segInfoCodec.Get(b)
		be := binary.BigEndian
		return PlannedSegment{Name: s.Name, Size: s.Size, Timeline: be.Uint32(b[40:]), regen: b[44] == 1,
			From: be.Uint64(b[48:]), To: be.Uint64(b[56:])}
	},
}
