package wal

import (
	"fmt"
	"log/slog"
	"time"
)

// DefaultPoll is how often a waiting Tailer looks at the source again.
const DefaultPoll = 10 * time.Millisecond

// Options configure a Tailer. The zero value detects the format, stamps
// entries with the time they were observed and polls every DefaultPoll.
type Options struct {
	// Format of the source log. FormatAuto detects it from the first bytes
	// of the first non-empty segment file: a file that starts with
	// `{"index":"` is JSON, anything else binary. An explicit format that
	// contradicts the bytes is an error naming the file.
	Format Format
	// Time says how an entry's timestamp is known.
	Time TimeSource
	// Poll is the directory/file poll interval while waiting for new
	// entries; default DefaultPoll.
	Poll time.Duration
	// Logger receives warnings (at most one per kind per Tailer); nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for observed times; nil means time.Now. Observed
	// times are made monotonic: never before the previous entry's.
	Now func() time.Time
	// Borrow lets Next return Entry.Data pointing into the tailer's read
	// buffer, valid only until the next call on the Tailer: no allocation
	// and no copy per entry for a caller that is done with an entry before
	// asking for the next (the agent's sealer). Off: a fresh slice.
	Borrow bool
}

func (o Options) withDefaults() (Options, error) {
	switch o.Format {
	case FormatAuto, FormatBinary, FormatJSON:
	default:
		return o, fmt.Errorf("wal: unknown log format %s: want auto, binary or json", o.Format)
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
