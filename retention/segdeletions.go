package retention

import (
	"iter"

	"github.com/walship/walship/internal/spill"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// SegmentDeletions are the segments a prune plan deletes: timeline by
// timeline (ascending), each timeline's in key order, as its second
// listing handed them over. A record is the segment's name and size
// (pitr's 40-byte SegmentInfo layout; the key is the name's canonical
// form, which is the only form a segment key parses in); the reason is
// its timeline's, written out when read. Past a few thousand the records
// are kept in a temporary file (spill.Table), so a prune of a long history
// of one-second segments holds a block of them, not a key and a reason
// per segment (about 300 bytes each).
//
// Err says whether reading them back failed: All stops there, and Execute
// deletes no timeline record after a failed read.
type SegmentDeletions struct {
	t     *spill.Table[pitr.SegmentInfo]
	why   map[uint32]func(segments.SegmentName) string // the reason, per timeline
	bytes int64
}

// add appends a deletion of si, whose reason is why(si.Name).
func (s *SegmentDeletions) add(si pitr.SegmentInfo, why func(segments.SegmentName) string) {
	if s.t == nil {
		s.t, s.why = pitr.NewSegmentTable(), map[uint32]func(segments.SegmentName) string{}
	}
	s.why[si.Name.Timeline] = why
	s.t.Append(si)
	s.bytes += si.Size
}

// Len is the number of segments deleted.
func (s *SegmentDeletions) Len() int { return s.t.Len() }

// Bytes is their listed size.
func (s *SegmentDeletions) Bytes() int64 { return s.bytes }

// All yields the deletions in order. It stops early when a read of the
// records fails (Err).
func (s *SegmentDeletions) All() iter.Seq[Deletion] {
	return func(yield func(Deletion) bool) {
		for i := range s.Len() {
			si := s.t.At(i)
			if s.t.Err() != nil {
				return
			}
			if !yield(Deletion{Kind: KindSegment, Key: si.Key(), Size: si.Size, Reason: s.why[si.Name.Timeline](si.Name)}) {
				return
			}
		}
	}
}

// Err is the first failure to keep or read back a record, if any.
func (s *SegmentDeletions) Err() error { return s.t.Err() }

// release frees the records' file: the plan is not read again.
func (s *SegmentDeletions) release() {
	if s.t != nil {
		s.t.Release()
	}
}
