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
type SegmentName struct {
	Timeline    uint32
	First, Last uint64
	MaxTime     int64 // unix ns, clamped at 0
}

// Key returns the object key.
func (n SegmentName) Key() string {
	return fmt.Sprintf("%s%08x/%020d-%020d-%020d%s", SegmentsPrefix, n.Timeline, n.First, n.Last, max(n.MaxTime, 0), segmentSuffix)
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
	n = SegmentName{Timeline: uint32(t), First: first, Last: last, MaxTime: int64(mt)}
	if n.Key() != key {
		return SegmentName{}, fmt.Errorf("not a segment key: %q (not in canonical form)", key)
	}
	return n, nil
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
