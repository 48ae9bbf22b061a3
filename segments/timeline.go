package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Timeline records a history of the log. Timeline 1 starts where walship
// first found the log. A later timeline forks from its parent: it shares the
// parent's entries up to ForkIndex and has its own entries from StartIndex.
// StartIndex > ForkIndex+1 means entries ForkIndex+1..StartIndex-1 were lost
// before walship shipped them (the database truncated them): a gap that a
// restore must never cross silently.
type Timeline struct {
	ID         uint32    `json:"timeline"`
	Parent     uint32    `json:"parent"`      // 0 for the first timeline
	ForkIndex  uint64    `json:"fork_index"`  // last entry shared with Parent
	StartIndex uint64    `json:"start_index"` // first entry of this timeline's own
	Reason     string    `json:"reason"`
	Time       time.Time `json:"time"`
}

// HasGap reports whether entries between the fork and the start are missing.
func (t Timeline) HasGap() bool { return t.Parent != 0 && t.StartIndex > t.ForkIndex+1 }

const timelineFormat = "walship.timeline"

// timelineReaders maps each timeline record version to its decoder.
var timelineReaders = map[int]func([]byte) (Timeline, error){
	1: decodeTimelineV1,
}

// EncodeTimeline returns the record bytes of t (version 1).
func EncodeTimeline(t Timeline) ([]byte, error) {
	if t.ID == 0 || t.StartIndex == 0 || (t.Parent != 0 && t.Parent >= t.ID) {
		return nil, fmt.Errorf("encode timeline %d: invalid record %+v", t.ID, t)
	}
	return sealRecord(timelineFormat, 1, t)
}

// DecodeTimeline checks and parses a timeline record of any known version.
func DecodeTimeline(b []byte) (Timeline, error) {
	v, body, err := openRecord(timelineFormat, b)
	if err != nil {
		return Timeline{}, err
	}
	dec, ok := timelineReaders[v]
	if !ok {
		return Timeline{}, fmt.Errorf("%w: timeline record version %d; upgrade walship", ErrUnknownVersion, v)
	}
	return dec(body)
}

func decodeTimelineV1(body []byte) (Timeline, error) {
	var t Timeline
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("%w: timeline record: %v", ErrCorrupt, err)
	}
	if t.ID == 0 || t.StartIndex == 0 || (t.Parent != 0 && t.Parent >= t.ID) || (t.Parent != 0 && t.StartIndex <= t.ForkIndex) {
		return t, fmt.Errorf("%w: timeline record %+v is inconsistent", ErrCorrupt, t)
	}
	return t, nil
}
