package wal

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeSource says how an entry's timestamp is known. The zero value is
// "observed".
//
//	observed       the time the tailer first saw the entry (the default, also "")
//	json:FIELD     the entry data is a JSON object whose top-level member FIELD
//	               holds an RFC 3339 string (fractions allowed) or an integer
//	               unix time whose unit is picked by magnitude: below 1e11
//	               seconds, below 1e14 milliseconds, below 1e17 microseconds,
//	               else nanoseconds
//	be64:OFFSET    a big-endian int64 of unix nanoseconds at byte OFFSET of the
//	               entry data
//
// An entry without a usable value gets the observed time, and the tailer logs
// one warning per run (not one per entry).
type TimeSource struct {
	kind   timeKind
	field  string // json
	offset int    // be64
}

type timeKind uint8

const (
	timeObserved timeKind = iota
	timeJSON
	timeBE64
)

// ParseTimeSource parses "observed" (or ""), "json:FIELD" or "be64:OFFSET".
func ParseTimeSource(s string) (TimeSource, error) {
	switch {
	case s == "" || s == "observed":
		return TimeSource{}, nil
	case strings.HasPrefix(s, "json:"):
		field := s[len("json:"):]
		if field == "" {
			return TimeSource{}, fmt.Errorf("timestamp source %q: name the JSON field, e.g. json:ts", s)
		}
		return TimeSource{kind: timeJSON, field: field}, nil
	case strings.HasPrefix(s, "be64:"):
		off, err := strconv.ParseUint(s[len("be64:"):], 10, 31)
		if err != nil {
			return TimeSource{}, fmt.Errorf("timestamp source %q: OFFSET must be a byte offset (a non-negative integer), e.g. be64:0", s)
		}
		return TimeSource{kind: timeBE64, offset: int(off)}, nil
	}
	return TimeSource{}, fmt.Errorf("unknown timestamp source %q: want observed, json:FIELD or be64:OFFSET", s)
}

// String returns the form ParseTimeSource reads.
func (ts TimeSource) String() string {
	switch ts.kind {
	case timeJSON:
		return "json:" + ts.field
	case timeBE64:
		return "be64:" + strconv.Itoa(ts.offset)
	}
	return "observed"
}

// MarshalText implements encoding.TextMarshaler (for config files).
func (ts TimeSource) MarshalText() ([]byte, error) { return []byte(ts.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (for config files).
func (ts *TimeSource) UnmarshalText(b []byte) error {
	v, err := ParseTimeSource(string(b))
	if err != nil {
		return err
	}
	*ts = v
	return nil
}

// Observed reports whether entries are stamped with the time they were seen.
func (ts TimeSource) Observed() bool { return ts.kind == timeObserved }

// extract returns the time carried in data, or a reason why there is none.
func (ts TimeSource) extract(data []byte) (time.Time, string) {
	switch ts.kind {
	case timeJSON:
		raw, ok := jsonTopField(data, ts.field)
		if !ok {
			return time.Time{}, "entry is not a JSON object with member " + strconv.Quote(ts.field)
		}
		return timeFromJSON(raw)
	case timeBE64:
		if len(data) < ts.offset+8 {
			return time.Time{}, fmt.Sprintf("entry is %d bytes, too short for an int64 at offset %d", len(data), ts.offset)
		}
		return time.Unix(0, int64(binary.BigEndian.Uint64(data[ts.offset:]))), ""
	}
	return time.Time{}, "observed"
}

func timeFromJSON(raw []byte) (time.Time, string) {
	if len(raw) > 0 && raw[0] == '"' {
		s, ok := jsonUnquote(raw)
		if !ok {
			return time.Time{}, "bad JSON string"
		}
		if t, err := time.Parse(time.RFC3339Nano, string(s)); err == nil {
			return t, ""
		}
		if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
			return unixByMagnitude(n), ""
		}
		return time.Time{}, "string is neither RFC 3339 nor an integer unix time"
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return unixByMagnitude(n), ""
	}
	// 1.7e9 and 1700000000.0 are integers too.
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil && f == float64(int64(f)) {
		return unixByMagnitude(int64(f)), ""
	}
	return time.Time{}, "value is neither an RFC 3339 string nor an integer unix time"
}

// unixByMagnitude reads n as seconds, milliseconds, microseconds or
// nanoseconds since the epoch, whichever its size suggests.
func unixByMagnitude(n int64) time.Time {
	a := n
	if a < 0 {
		a = -a // MinInt64 stays negative and falls through to nanoseconds
	}
	switch {
	case a >= 0 && a < 1e11:
		return time.Unix(n, 0)
	case a >= 0 && a < 1e14:
		return time.UnixMilli(n)
	case a >= 0 && a < 1e17:
		return time.UnixMicro(n)
	}
	return time.Unix(0, n)
}
