package pitr

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/walship/walship/backends"
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
		t       = newTable(segInfoCodec)
		ignored ignoredKeys
		pending SegmentInfo
		have    bool
		mem     segSlice // non-nil once the listing was out of order
	)
	err := st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
		name, err := segments.ParseSegmentKey(oi.Key)
		if err != nil {
			ignored.add(oi.Key)
			return nil
		}
		s := SegmentInfo{Size: oi.Size, Name: name}
		switch {
		case mem != nil:
			mem = append(mem, s)
			return nil
		case have && pending.Name.Family() == name.Family():
			if name.Gen > pending.Name.Gen {
				pending = s
			}
			return nil
		case have && compareSegments(pending, s) >= 0: // out of key order
			mem = make(segSlice, 0, t.Len()+2)
			for i := range t.Len() {
				mem = append(mem, t.At(i))
			}
			mem = append(mem, pending, s)
			return t.Err()
		case have:
			t.Append(pending)
		}
		pending, have = s, true
		return nil
	})
	if err != nil {
		return nil, ignoredKeys{}, fmt.Errorf("list %s in %s: %w", prefix, st, err)
	}
	if mem != nil {
		sortSegments(mem)
		return segSlice(newestGenerations(mem)), ignored, nil
	}
	if have {
		t.Append(pending)
	}
	if err := t.Err(); err != nil {
		return nil, ignoredKeys{}, fmt.Errorf("list %s in %s: %w", prefix, st, err)
	}
	return t, ignored, nil
}

// segInfoCodec lays out a SegmentInfo in 40 bytes, big-endian:
//
//	0  Name.First    u64    24 Name.Timeline u32
//	8  Name.Last     u64    28 Name.Gen      u32
//	16 Name.MaxTime  i64    32 Size          i64
var segInfoCodec = codec[SegmentInfo]{
	size: 40,
	put: func(b []byte, s SegmentInfo) {
		be := binary.BigEndian
		be.PutUint64(b[0:], s.Name.First)
		be.PutUint64(b[8:], s.Name.Last)
		be.PutUint64(b[16:], uint64(s.Name.MaxTime))
		be.PutUint32(b[24:], s.Name.Timeline)
		be.PutUint32(b[28:], s.Name.Gen)
		be.PutUint64(b[32:], uint64(s.Size))
	},
	get: func(b []byte) SegmentInfo {
		be := binary.BigEndian
		return SegmentInfo{Size: int64(be.Uint64(b[32:])), Name: segments.SegmentName{First: be.Uint64(b[0:]), Last: be.Uint64(b[8:]),
			MaxTime: int64(be.Uint64(b[16:])), Timeline: be.Uint32(b[24:]), Gen: be.Uint32(b[28:])}}
	},
}
