package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/walship/walship/crypt"
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

// An encrypted timeline record (version 2, record_v2.go) keeps in the clear
// what planning, list and prune need:
//
//	"clear":{"timeline":2,"parent":1,"fork_index":4711,"start_index":4712}
//
// and seals the whole record (reason and time too).
type timelineClear struct {
	ID         uint32 `json:"timeline"`
	Parent     uint32 `json:"parent"`
	ForkIndex  uint64 `json:"fork_index"`
	StartIndex uint64 `json:"start_index"`
}

func (t Timeline) clear() timelineClear {
	return timelineClear{ID: t.ID, Parent: t.Parent, ForkIndex: t.ForkIndex, StartIndex: t.StartIndex}
}

// timelineReaders maps each timeline record version to its decoder.
var timelineReaders = map[int]func([]byte) (Timeline, error){
	1: decodeTimelineV1,
}

// EncodeTimeline returns the record bytes of t (version 1).
func EncodeTimeline(t Timeline) ([]byte, error) { return EncodeTimelineFor(t, nil) }

// EncodeTimelineFor returns the record bytes of t: version 1 without
// recipients, else version 2 sealed to rs.
func EncodeTimelineFor(t Timeline, rs []*crypt.Recipient) ([]byte, error) {
	if t.ID == 0 || t.StartIndex == 0 || (t.Parent != 0 && t.Parent >= t.ID) {
		return nil, fmt.Errorf("encode timeline %d: invalid record %+v", t.ID, t)
	}
	if len(rs) == 0 {
		return sealRecord(timelineFormat, 1, t)
	}
	return sealRecordV2(timelineFormat, t.clear(), t, rs)
}

// DecodeTimeline checks and parses a timeline record of any known version.
// An encrypted record gives its clear fields only (Reason and Time empty).
func DecodeTimeline(b []byte) (Timeline, error) {
	t, _, err := DecodeTimelineWith(b, nil)
	return t, err
}

// DecodeTimelineWith is DecodeTimeline that opens an encrypted record with
// ids when they are given (a wrong identity fails with crypt.ErrNoIdentity)
// and says how the record is stored.
func DecodeTimelineWith(b []byte, ids []*crypt.Identity) (Timeline, RecordInfo, error) {
	if len(b) > MaxRecordSize {
		return Timeline{}, RecordInfo{}, fmt.Errorf("%w: timeline record of %d bytes", ErrCorrupt, len(b))
	}
	v, body, err := openRecord(timelineFormat, b)
	if err != nil {
		return Timeline{}, RecordInfo{}, err
	}
	info := RecordInfo{Version: v, Opened: true}
	if v == RecordVersion2 {
		return decodeTimelineV2(body, ids)
	}
	dec, ok := timelineReaders[v]
	if !ok {
		return Timeline{}, info, fmt.Errorf("%w: timeline record version %d; upgrade walship", ErrUnknownVersion, v)
	}
	t, err := dec(body)
	return t, info, err
}

func decodeTimelineV2(body []byte, ids []*crypt.Identity) (Timeline, RecordInfo, error) {
	o, err := openRecordV2(timelineFormat, body, ids)
	info := RecordInfo{Version: RecordVersion2, Recipients: o.Recipients, Opened: o.Full != nil}
	if err != nil {
		return Timeline{}, info, err
	}
	var c timelineClear
	dec := json.NewDecoder(bytes.NewReader(o.Clear))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Timeline{}, info, fmt.Errorf("%w: timeline record: clear part: %v", ErrCorrupt, err)
	}
	t := Timeline{ID: c.ID, Parent: c.Parent, ForkIndex: c.ForkIndex, StartIndex: c.StartIndex}
	if o.Full != nil {
		if t, err = decodeTimelineV1(o.Full); err != nil {
			return Timeline{}, info, err
		}
		if !sameClear(o.Clear, t.clear()) {
			return Timeline{}, info, fmt.Errorf("%w: timeline record %d: clear part differs from the sealed record", ErrCorrupt, t.ID)
		}
		return t, info, nil
	}
	return t, info, checkTimeline(t)
}

func decodeTimelineV1(body []byte) (Timeline, error) {
	var t Timeline
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("%w: timeline record: %v", ErrCorrupt, err)
	}
	return t, checkTimeline(t)
}

func checkTimeline(t Timeline) error {
	if t.ID == 0 || t.StartIndex == 0 || (t.Parent != 0 && t.Parent >= t.ID) || (t.Parent != 0 && t.StartIndex <= t.ForkIndex) {
		return fmt.Errorf("%w: timeline record %+v is inconsistent", ErrCorrupt, t)
	}
	return nil
}
