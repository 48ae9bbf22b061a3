package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/walship/walship/crypt"
)

// PointsPrefix holds named restore points:
//
//	points/<name>.json
//	{"format":"walship.point","version":1,"body":{"name","timeline","index",
//	 "time","created","pinned"},"sha256":"..."}
//
// A point names a position in the history (timeline, index; time is the
// entry's time). Records are never rewritten: a point is created once and
// may be deleted. A pinned point is a retention promise: prune keeps every
// object a restore to it needs.
//
// An encrypted point (record version 2, record_v2.go) keeps in the clear
// what restore planning and prune act on:
//
//	"clear":{"name","timeline","index","pinned"}
//
// and seals the whole record (the entry's time and when it was created too).
const PointsPrefix = "points/"

const pointFormat = "walship.point"

// Point is a named restore point.
type Point struct {
	Name     string    `json:"name"`
	Timeline uint32    `json:"timeline"`
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`    // time of the entry at Index
	Created  time.Time `json:"created"` // when the point was recorded
	Pinned   bool      `json:"pinned"`
}

var pointName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// ValidPointName checks a point name: 1..100 of [A-Za-z0-9._-], starting
// with a letter or digit.
func ValidPointName(name string) error {
	if !pointName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("invalid restore point name %q: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// PointKey is the key of a point's record.
func PointKey(name string) string { return PointsPrefix + name + ".json" }

// ParsePointKey returns the name a point key holds, strictly.
func ParsePointKey(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, PointsPrefix)
	name, ok2 := strings.CutSuffix(rest, ".json")
	if !ok || !ok2 || ValidPointName(name) != nil || PointKey(name) != key {
		return "", fmt.Errorf("not a restore point key: %q", key)
	}
	return name, nil
}

var pointReaders = map[int]func([]byte) (Point, error){1: decodePointV1}

type pointClear struct {
	Name     string `json:"name"`
	Timeline uint32 `json:"timeline"`
	Index    uint64 `json:"index"`
	Pinned   bool   `json:"pinned"`
}

func (p Point) clear() pointClear {
	return pointClear{Name: p.Name, Timeline: p.Timeline, Index: p.Index, Pinned: p.Pinned}
}

// EncodePoint returns the record bytes of p (version 1).
func EncodePoint(p Point) ([]byte, error) { return EncodePointFor(p, nil) }

// EncodePointFor returns the record bytes of p: version 1 without
// recipients, else version 2 sealed to rs.
func EncodePointFor(p Point, rs []*crypt.Recipient) ([]byte, error) {
	if err := ValidPointName(p.Name); err != nil {
		return nil, err
	}
	if p.Timeline == 0 || p.Index == 0 {
		return nil, fmt.Errorf("encode restore point %s: no position", p.Name)
	}
	if len(rs) == 0 {
		return sealRecord(pointFormat, 1, p)
	}
	return sealRecordV2(pointFormat, p.clear(), p, rs)
}

// DecodePoint checks and parses a point record of any known version. An
// encrypted record gives its clear fields only (Time and Created zero).
func DecodePoint(b []byte) (Point, error) {
	p, _, err := DecodePointWith(b, nil)
	return p, err
}

// DecodePointWith is DecodePoint that opens an encrypted record with ids
// when they are given (a wrong identity fails with crypt.ErrNoIdentity) and
// says how the record is stored.
func DecodePointWith(b []byte, ids []*crypt.Identity) (Point, RecordInfo, error) {
	if len(b) > MaxRecordSize {
		return Point{}, RecordInfo{}, fmt.Errorf("%w: restore point record of %d bytes", ErrCorrupt, len(b))
	}
	v, body, err := openRecord(pointFormat, b)
	if err != nil {
		return Point{}, RecordInfo{}, err
	}
	if v == RecordVersion2 {
		return decodePointV2(body, ids)
	}
	info := RecordInfo{Version: v, Opened: true}
	dec, ok := pointReaders[v]
	if !ok {
		return Point{}, info, fmt.Errorf("%w: restore point record version %d; upgrade walship", ErrUnknownVersion, v)
	}
	p, err := dec(body)
	return p, info, err
}

func decodePointV2(body []byte, ids []*crypt.Identity) (Point, RecordInfo, error) {
	o, err := openRecordV2(pointFormat, body, ids)
	info := RecordInfo{Version: RecordVersion2, Recipients: o.Recipients, Opened: o.Full != nil}
	if err != nil {
		return Point{}, info, err
	}
	var c pointClear
	dec := json.NewDecoder(bytes.NewReader(o.Clear))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Point{}, info, fmt.Errorf("%w: restore point record: clear part: %v", ErrCorrupt, err)
	}
	p := Point{Name: c.Name, Timeline: c.Timeline, Index: c.Index, Pinned: c.Pinned}
	if o.Full != nil {
		if p, err = decodePointV1(o.Full); err != nil {
			return Point{}, info, err
		}
		if !sameClear(o.Clear, p.clear()) {
			return Point{}, info, fmt.Errorf("%w: restore point record %s: clear part differs from the sealed record", ErrCorrupt, p.Name)
		}
		return p, info, nil
	}
	if ValidPointName(p.Name) != nil || p.Timeline == 0 || p.Index == 0 {
		return p, info, fmt.Errorf("%w: restore point record %+v is inconsistent", ErrCorrupt, p)
	}
	return p, info, nil
}

func decodePointV1(body []byte) (Point, error) {
	var p Point
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: restore point record: %v", ErrCorrupt, err)
	}
	if ValidPointName(p.Name) != nil || p.Timeline == 0 || p.Index == 0 {
		return p, fmt.Errorf("%w: restore point record %+v is inconsistent", ErrCorrupt, p)
	}
	return p, nil
}
