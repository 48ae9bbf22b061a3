package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
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

// EncodePoint returns the record bytes of p (version 1).
func EncodePoint(p Point) ([]byte, error) {
	if err := ValidPointName(p.Name); err != nil {
		return nil, err
	}
	if p.Timeline == 0 || p.Index == 0 {
		return nil, fmt.Errorf("encode restore point %s: no position", p.Name)
	}
	return sealRecord(pointFormat, 1, p)
}

// DecodePoint checks and parses a point record of any known version.
func DecodePoint(b []byte) (Point, error) {
	v, body, err := openRecord(pointFormat, b)
	if err != nil {
		return Point{}, err
	}
	dec, ok := pointReaders[v]
	if !ok {
		return Point{}, fmt.Errorf("%w: restore point record version %d; upgrade walship", ErrUnknownVersion, v)
	}
	return dec(body)
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
