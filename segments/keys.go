package segments

import (
	"fmt"
	"strconv"
	"strings"
)

// Key prefixes. See the package doc for the layout.
const (
	SegmentsPrefix  = "segments/"
	TimelinesPrefix = "timelines/"
	segmentSuffix   = ".wseg"
	timelineSuffix  = ".json"
)

// SegmentName is what a segment's key says about it.
//
// Generations. A segment key may carry a generation between the newest
// entry time and the suffix:
//
//	segments/TTTTTTTT/FFFF...F-LLLL...L-MMMM...M.wseg       generation 0 (every agent writes these)
//	segments/TTTTTTTT/FFFF...F-LLLL...L-MMMM...M.gN.wseg    generation N: 1..4294967295, decimal, no leading zero
//
// Objects whose names differ only in Gen are copies of one segment: the
// same timeline, entries and newest time, possibly in another format or
// sealed to other recipients (walship migrate rewrites a segment as
// generation max+1, reads it back and checks it, then deletes the lower
// ones; Put is create-only, so a key is never rewritten in place). Readers
// treat a family as one segment and use its highest generation (a lower
// one is a leftover of an interrupted rewrite); prune deletes or keeps a
// family whole since its members share a range; compaction keeps the
// highest as the container of the others.
//
// The fields are ordered for size (32 bytes, not 40): a plan or listing
// holds one per segment.
type SegmentName struct {
	First, Last uint64
	MaxTime     int64 // unix ns, clamped at 0
	Timeline    uint32
	Gen         uint32 `json:",omitempty"` // 0: the key has no generation
}

// Key returns the object key.
func (n SegmentName) Key() string {
	var b [maxSegmentKey]byte
	return string(n.AppendKey(b[:0]))
}

// maxSegmentKey is the longest segment key: the prefix, 8 hex digits, "/",
// three 20-digit numbers with two "-", ".g" and 10 digits, the suffix.
const maxSegmentKey = len(SegmentsPrefix) + 8 + 1 + 62 + 12 + len(segmentSuffix)

// AppendKey appends the object key to b (Key without an allocation when b
// has room: listings check every key they parse against it).
func (n SegmentName) AppendKey(b []byte) []byte {
	b = append(b, SegmentsPrefix...)
	b = appendPadded(b, uint64(n.Timeline), 16, 8)
	b = append(b, '/')
	b = appendPadded(b, n.First, 10, 20)
	b = append(b, '-')
	b = appendPadded(b, n.Last, 10, 20)
	b = append(b, '-')
	b = appendPadded(b, uint64(max(n.MaxTime, 0)), 10, 20)
	if n.Gen > 0 {
		b = append(b, ".g"...)
		b = strconv.AppendUint(b, uint64(n.Gen), 10)
	}
	return append(b, segmentSuffix...)
}

// appendPadded appends v in base, zero-padded on the left to width digits
// (lower-case hex, as %08x).
func appendPadded(b []byte, v uint64, base, width int) []byte {
	var d [20]byte
	s := strconv.AppendUint(d[:0], v, base)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// Family is the name without its generation: what the segment's header
// says (NameOf) whichever generation holds it. Names of one family are
// copies of the same entries.
func (n SegmentName) Family() SegmentName {
	n.Gen = 0
	return n
}

// FamilyPrefix is the listing prefix of every generation of the segment
// (the key up to the newest entry time, and the dot after it).
func (n SegmentName) FamilyPrefix() string {
	k := n.Family().Key()
	return k[:len(k)-len(segmentSuffix)+1]
}

// NameOf returns the name of the segment a header describes.
func NameOf(h Header) SegmentName {
	return SegmentName{Timeline: h.Timeline, First: h.First, Last: h.Last, MaxTime: max(h.MaxTime, 0)}
}

// TimelinePrefix is the listing prefix of one timeline's segments.
func TimelinePrefix(tl uint32) string { return fmt.Sprintf("%s%08x/", SegmentsPrefix, tl) }

// SeekKey is a List "after" value that skips a timeline's segments whose
// first index is below first.
func SeekKey(tl uint32, first uint64) string {
	if first == 0 {
		return ""
	}
	return fmt.Sprintf("%s%08x/%020d", SegmentsPrefix, tl, first-1) + "~"
}

// ParseSegmentKey parses a segment key strictly: anything else under the
// segments prefix (a hostile or foreign name) is an error, never a guess,
// and a parsed name prints back to the very key (so "0000001A" is refused:
// the key of timeline 0x1a is "0000001a").
func ParseSegmentKey(key string) (SegmentName, error) {
	var n SegmentName
	rest, ok := strings.CutPrefix(key, SegmentsPrefix)
	if !ok {
		return n, fmt.Errorf("not a segment key: %q", key)
	}
	tl, name, ok := strings.Cut(rest, "/")
	name, ok2 := strings.CutSuffix(name, segmentSuffix)
	var gen uint64
	if ok && ok2 && len(name) > 62 {
		var err error
		if gen, err = parseGen(name[62:]); err != nil {
			return n, fmt.Errorf("not a segment key: %q: %w", key, err)
		}
		name = name[:62]
	}
	if !ok || !ok2 || len(tl) != 8 || len(name) != 62 || name[20] != '-' || name[41] != '-' {
		return n, fmt.Errorf("not a segment key: %q", key)
	}
	t, err := strconv.ParseUint(tl, 16, 32)
	if err != nil {
		return n, fmt.Errorf("not a segment key: %q", key)
	}
	first, err1 := parseDigits(name[0:20])
	last, err2 := parseDigits(name[21:41])
	mt, err3 := parseDigits(name[42:62])
	if err1 != nil || err2 != nil || err3 != nil || first == 0 || last < first || t == 0 || mt > 1<<63-1 {
		return n, fmt.Errorf("not a segment key: %q", key)
	}
	n = SegmentName{Timeline: uint32(t), First: first, Last: last, MaxTime: int64(mt), Gen: uint32(gen)}
	var b [maxSegmentKey]byte
	if string(n.AppendKey(b[:0])) != key {
		return SegmentName{}, fmt.Errorf("not a segment key: %q (not in canonical form)", key)
	}
	return n, nil
}

// parseGen parses a generation part, ".gN" (N 1..MaxUint32, decimal,
// without leading zeros).
func parseGen(s string) (uint64, error) {
	digits, ok := strings.CutPrefix(s, ".g")
	if !ok || digits == "" || len(digits) > 10 || digits[0] == '0' {
		return 0, fmt.Errorf("bad generation %q", s)
	}
	g, err := parseDigits(digits)
	if err != nil || g == 0 || g > 1<<32-1 {
		return 0, fmt.Errorf("bad generation %q", s)
	}
	return g, nil
}

func parseDigits(s string) (uint64, error) {
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not digits: %q", s)
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// TimelineKey is the key of a timeline's record.
func TimelineKey(tl uint32) string {
	return fmt.Sprintf("%s%08x%s", TimelinesPrefix, tl, timelineSuffix)
}

// ParseTimelineKey returns the timeline a record key names, strictly: the
// timeline's key must be the very key.
func ParseTimelineKey(key string) (uint32, error) {
	rest, ok := strings.CutPrefix(key, TimelinesPrefix)
	name, ok2 := strings.CutSuffix(rest, timelineSuffix)
	if !ok || !ok2 || len(name) != 8 {
		return 0, fmt.Errorf("not a timeline key: %q", key)
	}
	t, err := strconv.ParseUint(name, 16, 32)
	if err != nil || t == 0 || TimelineKey(uint32(t)) != key {
		return 0, fmt.Errorf("not a timeline key: %q", key)
	}
	return uint32(t), nil
}
