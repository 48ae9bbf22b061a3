package pitr

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/internal/spill"
	"github.com/walship/walship/segments"
)

// segSeq is one timeline's segments as planning walks them: sorted by
// sortSegments, newest generation only. A listing keeps them in a table
// (memory, then a file); verify hands its own intact ones as a segSlice.
// Err reports a failed read of the table: what At returned after it is a
// zero record, so a walk checks Err before it trusts its result.
type segSeq interface {
	Len() int
	At(i int) SegmentInfo
	Err() error
}

// segSlice is a segSeq in memory.
type segSlice []SegmentInfo

func (s segSlice) Len() int             { return len(s) }
func (s segSlice) At(i int) SegmentInfo { return s[i] }
func (s segSlice) Err() error           { return nil }

// listSegmentTable is listSegments(prefix, newest) for planning: the
// segments go to a table as the listing hands them over, each family's
// newest generation once the next family starts, so a history of a
// million segments holds a block of them in memory. A listing out of key
// order (a store breaking the List contract) is gathered in memory and
// sorted instead, as listSegments does.
func listSegmentTable(ctx context.Context, st backends.Store, prefix string) (segSeq, ignoredKeys, error) {
	var (
		c       newestCollector
		ignored ignoredKeys
	)
	err := st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
		name, err := segments.ParseSegmentKey(oi.Key)
		if err != nil {
			ignored.add(oi.Key)
			return nil
		}
		return c.add(SegmentInfo{Size: oi.Size, Name: name})
	})
	if err == nil {
		var seq segSeq
		if seq, err = c.done(); err == nil {
			return seq, ignored, nil
		}
	}
	return nil, ignoredKeys{}, fmt.Errorf("list %s in %s: %w", prefix, st, err)
}

// newestCollector gathers one timeline's segments, handed over in key
// order, into a segSeq of each family's newest generation: a family's
// members are neighbours in key order (".g10" before ".g2", so the highest
// generation is kept, not the last). Segments handed over out of order (a
// store breaking the List contract) are gathered in memory and sorted
// instead. The zero value is ready to use.
type newestCollector struct {
	t       *spill.Table[SegmentInfo]
	pending SegmentInfo
	have    bool
	mem     segSlice // non-nil once out of order
}

func (c *newestCollector) add(s SegmentInfo) error {
	if c.t == nil {
		c.t = spill.New(segInfoCodec)
	}
	switch {
	case c.mem != nil:
		c.mem = append(c.mem, s)
		return nil
	case c.have && c.pending.Name.Family() == s.Name.Family():
		if s.Name.Gen > c.pending.Name.Gen {
			c.pending = s
		}
		return nil
	case c.have && compareSegments(c.pending, s) >= 0: // out of key order
		c.mem = make(segSlice, 0, c.t.Len()+2)
		for i := range c.t.Len() {
			c.mem = append(c.mem, c.t.At(i))
		}
		c.mem = append(c.mem, c.pending, s)
		return c.t.Err()
	case c.have:
		c.t.Append(c.pending)
	}
	c.pending, c.have = s, true
	return nil
}

// done returns what was gathered; the collector is not used again.
func (c *newestCollector) done() (segSeq, error) {
	if c.mem != nil {
		sortSegments(c.mem)
		return segSlice(newestGenerations(c.mem)), nil
	}
	if c.t == nil {
		return segSlice(nil), nil
	}
	if c.have {
		c.t.Append(c.pending)
	}
	if err := c.t.Err(); err != nil {
		return nil, err
	}
	return c.t, nil
}

// byTimeline gathers, timeline by timeline, the newest generations of the
// segments of segs (a listing, in key order) that keep says to, into a
// segSeq each (newestCollector); every id in ids has one, if empty. It
// returns the timelines in the order they first appear.
func byTimeline(segs segSeq, keep func(int) bool, ids []uint32) (map[uint32]segSeq, []uint32, error) {
	cs := map[uint32]*newestCollector{}
	var order []uint32
	for _, id := range ids {
		cs[id] = &newestCollector{}
	}
	for i := range segs.Len() {
		if !keep(i) {
			continue
		}
		s := segs.At(i)
		c, ok := cs[s.Name.Timeline]
		if !ok {
			c = &newestCollector{}
			cs[s.Name.Timeline] = c
		}
		if !c.have && c.mem == nil {
			order = append(order, s.Name.Timeline)
		}
		if err := c.add(s); err != nil {
			return nil, nil, err
		}
	}
	if err := segs.Err(); err != nil {
		return nil, nil, err
	}
	out := make(map[uint32]segSeq, len(cs))
	for tl, c := range cs {
		seq, err := c.done()
		if err != nil {
			return nil, nil, err
		}
		out[tl] = seq
	}
	return out, order, nil
}

// NewSegmentTable makes an empty spill table of SegmentInfo records, in
// segInfoCodec's layout (retention keeps the segments a prune deletes in
// one).
func NewSegmentTable() *spill.Table[SegmentInfo] { return spill.New(segInfoCodec) }

// segInfoCodec lays out a SegmentInfo in 40 bytes, big-endian:
//
//	0  Name.First    u64    24 Name.Timeline u32
//	8  Name.Last     u64    28 Name.Gen      u32
//	16 Name.MaxTime  i64    32 Size          i64
var segInfoCodec = spill.Codec[SegmentInfo]{
	Size: 40,
	Put: func(b []byte, s SegmentInfo) {
		be := binary.BigEndian
		be.PutUint64(b[0:], s.Name.First)
		be.PutUint64(b[8:], s.Name.Last)
		be.PutUint64(b[16:], uint64(s.Name.MaxTime))
		be.PutUint32(b[24:], s.Name.Timeline)
		be.PutUint32(b[28:], s.Name.Gen)
		be.PutUint64(b[32:], uint64(s.Size))
	},
	Get: func(b []byte) SegmentInfo {
		be := binary.BigEndian
		return SegmentInfo{Size: int64(be.Uint64(b[32:])), Name: segments.SegmentName{First: be.Uint64(b[0:]), Last: be.Uint64(b[8:]),
			MaxTime: int64(be.Uint64(b[16:])), Timeline: be.Uint32(b[24:]), Gen: be.Uint32(b[28:])}}
	},
}
