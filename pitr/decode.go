package pitr

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/walship/walship/segments"
)

// decodeAheadMax is the largest segment (raw entry bytes) a download
// goroutine decodes into memory, so decoding (zstd, per-entry CRC32C) runs
// on every core while the writer only appends. With at most Parallel+1
// segments fetched and not yet written, it bounds the memory decoded
// segments take; a larger segment is decoded by the writer from its file.
// A variable so tests take both ways.
var decodeAheadMax uint64 = 16 << 20

// entrySource is what the writer reads a segment's entries from: a
// segments.Reader over the fetched file, or the entries decoded ahead.
type entrySource interface {
	Next() (segments.Entry, error)
	Close()
}

// decoded is a segment's entries, decoded ahead by its download goroutine:
// every entry up to `to`, and, when `to` was the last, the reader's checks
// after it (payload end, SHA-256) passed; then Next ends with io.EOF.
type decoded struct {
	es  []segments.Entry
	end error // what Next returns after es: io.EOF, or the reader's error
}

func (d *decoded) Next() (segments.Entry, error) {
	if len(d.es) == 0 {
		return segments.Entry{}, d.end
	}
	e := d.es[0]
	d.es[0] = segments.Entry{} // the writer is done with it: let it go
	d.es = d.es[1:]
	return e, nil
}

func (d *decoded) Close() {}

// decodeAhead reads the fetched segment at path up to entry to (to its end
// when to is its last) into memory. An error the writer would meet reading
// the file is kept for it, in the same place (after the entries before it),
// so the first bad segment in index order is still the one reported.
func decodeAhead(path string, to, last uint64) (*decoded, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := segments.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return &decoded{end: err}, nil
	}
	defer rd.Close()
	d := &decoded{}
	for {
		e, err := rd.Next()
		if err != nil {
			d.end = err
			return d, nil
		}
		d.es = append(d.es, e)
		if e.Index == to && to != last {
			d.end = errors.New("decoded ahead only to the plan's last entry")
			return d, nil
		}
	}
}

// openEntries returns the entries of a fetched segment: those decoded
// ahead, or a reader over its file.
func openEntries(key string, r fetched) (entrySource, func(), error) {
	if r.dec != nil {
		return r.dec, func() {}, nil
	}
	f, err := os.Open(r.path)
	if err != nil {
		return nil, nil, fmt.Errorf("segment %s: %w", key, err)
	}
	rd, err := segments.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("segment %s: %w", key, err)
	}
	return rd, func() { rd.Close(); f.Close() }, nil
}
