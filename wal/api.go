// Package wal reads a github.com/tidwall/wal directory that another, live
// process writes. It never writes, renames, deletes or locks anything in that
// directory. Tailer follows appends, waits for a partially written last entry,
// reports real corruption with file and offset, and tells the caller when the
// log was truncated at the front past its position (TruncatedFrontError) or
// rewritten under it (RewrittenError, from TruncateBack).
package wal

import (
	"errors"
	"fmt"
	"time"
)

// Format is the tidwall/wal log format.
type Format uint8

// Log formats. The numeric values are stored in segment headers: never
// renumber them.
const (
	FormatAuto   Format = 0 // detect from the first bytes of the log
	FormatBinary Format = 1 // uvarint(len) + data
	FormatJSON   Format = 2 // {"index":"N","data":"+text"|"$base64url"}\n
)

func (f Format) String() string {
	switch f {
	case FormatBinary:
		return "binary"
	case FormatJSON:
		return "json"
	case FormatAuto:
		return "auto"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// ParseFormat parses "auto", "binary" or "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "auto":
		return FormatAuto, nil
	case "binary":
		return FormatBinary, nil
	case "json":
		return FormatJSON, nil
	}
	return 0, fmt.Errorf("unknown log format %q: want auto, binary or json", s)
}

// MaxEntrySize bounds one entry's data (the same bound as a sealed
// segment's). A binary length or a decoded JSON entry larger than this is
// reported as corruption instead of being waited for or buffered: no such
// entry can be shipped, and a damaged length must not stall the tailer.
const MaxEntrySize = 1 << 30

// maxJSONLine bounds a JSON line: MaxEntrySize bytes, each escaped in at
// most 6 bytes (\u00XX), plus the members around them.
const maxJSONLine int64 = 6*MaxEntrySize + 64

// Entry is one log entry as the tailer saw it.
type Entry struct {
	Index uint64
	Data  []byte
	// Time is the entry's timestamp per Options.Time: when the tailer first
	// saw it (observed), or a time carried in the entry itself.
	Time time.Time
}

// Errors.
var (
	// ErrNotWAL: the directory is missing or holds no tidwall/wal segment.
	ErrNotWAL = errors.New("not a tidwall/wal log directory")
	// ErrCorrupt: bytes in a complete (non-tail) part of the log do not parse.
	// Every such error is a *CorruptError; errors.Is(err, ErrCorrupt) holds.
	ErrCorrupt = errors.New("corrupt tidwall/wal log")
)

// CorruptError: bytes in a complete (non-tail) part of the source log do not
// parse as tidwall/wal entries. Entries before Index were returned intact;
// the tailer returns the same error until Seek. It matches ErrCorrupt.
type CorruptError struct {
	File   string // the segment file's path
	Offset int64  // byte offset in File where the bad entry starts
	Index  uint64 // the entry expected at Offset
	Reason string // what is wrong, for people
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d (entry %d): %s; the source log is damaged, restore it or start from a new base",
		ErrCorrupt, e.File, e.Offset, e.Index, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// TruncatedFrontError: entries the caller asked for were removed by
// TruncateFront before they were read. Entries Want..First-1 are gone; the
// log now starts at First.
type TruncatedFrontError struct {
	Want, First uint64
}

func (e *TruncatedFrontError) Error() string {
	return fmt.Sprintf("wal: entries %d..%d were truncated from the front of the log before they were read (log now starts at %d)",
		e.Want, e.First-1, e.First)
}

// RewrittenError: a source segment file the tailer had read from was
// replaced or shrank (TruncateBack, possibly followed by new appends), or the
// log's last index fell below the tailer's position. Entries at or after From
// may differ from what the tailer returned before; entries before From are
// known unchanged. The tailer stays usable: the caller decides where to Seek.
//
// The tailer knows only the files it read from since Open: a rewrite of
// entries it was positioned past by Seek, without reading them, shows only as
// the log ending before its position (then From is the new last index + 1).
// Checking entries from before Open is the caller's fork check (Scan).
type RewrittenError struct {
	From uint64 // first index of the earliest changed segment file
	Last uint64 // the log's last complete index when the change was seen
	File string // the changed file's name
}

func (e *RewrittenError) Error() string {
	return fmt.Sprintf("wal: segment %s was rewritten (entries from %d may have changed; log now ends at %d)",
		e.File, e.From, e.Last)
}
