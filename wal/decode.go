package wal

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// Entry encodings, as tidwall/wal v1.2.1 writes them (no checksums, no
// header, entries back to back; a file's first entry has the index in its
// name):
//
//	binary:  uvarint(len(data)) data
//	JSON:    {"index":"N","data":"+TEXT"}\n    data is valid UTF-8; TEXT is
//	                                           the JSON string body
//	         {"index":"N","data":"$B64"}\n     otherwise; B64 is padded
//	                                           base64url
//
// An entry is complete when all its bytes (binary) or its newline (JSON)
// are in the file. An incomplete entry at the end of the last file is a
// write in progress; anywhere else it is corruption. So is what tidwall never
// writes: a uvarint that is not in shortest form or overflows 64 bits, a
// length or decoded entry over MaxEntrySize, a line that is not one JSON
// object with the two members, an index other than the expected one, and an
// entry after index 2^64-1.

type status uint8

const (
	stReady status = iota // an entry was decoded (or skipped)
	stWait                // the entry at the position is not complete yet
)

// corruptErr builds a *CorruptError naming the file, byte offset and index.
func corruptErr(r *segReader, format string, args ...any) error {
	return &CorruptError{File: r.path(), Offset: r.off, Index: r.next, Reason: fmt.Sprintf(format, args...)}
}

type mark struct {
	off  int64
	crc  uint32
	next uint64
}

func (r *segReader) mark() mark { return mark{r.off, r.crc, r.next} }

// rollback returns to m after a failed read, dropping the buffer.
func (r *segReader) rollback(m mark) {
	r.off, r.crc, r.next = m.off, m.crc, m.next
	r.r, r.w = 0, 0
}

// entry decodes the entry at the read position into a fresh slice, or skips
// it when keep is false.
func (r *segReader) entry(fb *formatBox, keep bool) ([]byte, status, error) {
	f, err := fb.check(r)
	if err != nil {
		return nil, 0, err
	}
	m := r.mark()
	var data []byte
	var st status
	switch f {
	case FormatAuto:
		return nil, stWait, nil
	case FormatBinary:
		data, st, err = r.binaryEntry(keep)
	default:
		data, st, err = r.jsonEntry(keep)
	}
	if err == nil && st == stReady && m.next == math.MaxUint64 {
		// Only a file named by the largest index gets here: the entry
		// after this one would have index 0.
		r.rollback(m)
		return nil, 0, corruptErr(r, "entry index %d leaves no room for the index after it", m.next)
	}
	if err != nil {
		r.rollback(m)
	}
	return data, st, err
}

func (r *segReader) binaryEntry(keep bool) ([]byte, status, error) {
	if _, err := r.fill(binary.MaxVarintLen64); err != nil {
		return nil, 0, err
	}
	size, hdr := binary.Uvarint(r.buf[r.r:r.w])
	switch {
	case hdr == 0:
		if r.w-r.r >= binary.MaxVarintLen64 {
			return nil, 0, corruptErr(r, "bad entry length")
		}
		return nil, stWait, nil
	case hdr < 0:
		return nil, 0, corruptErr(r, "entry length overflows 64 bits")
	case hdr > 1 && r.buf[r.r+hdr-1] == 0:
		// tidwall writes the shortest uvarint; a trailing zero byte never
		// comes from it.
		return nil, 0, corruptErr(r, "entry length %d is not in shortest form", size)
	case size > MaxEntrySize:
		return nil, 0, corruptErr(r, "entry length %d exceeds the %d-byte limit", size, MaxEntrySize)
	case size > uint64(r.avail()-int64(hdr)):
		return nil, stWait, nil
	}
	r.consume(hdr)
	var data []byte
	if keep && r.borrow && uint64(r.w-r.r) >= size {
		n := int(size)
		data = r.buf[r.r : r.r+n : r.r+n] // valid until the next read (Options.Borrow)
		r.consume(n)
	} else if keep {
		data = make([]byte, size)
		if err := r.readFull(data); err != nil {
			return nil, 0, err
		}
	} else if err := r.discard(int64(size)); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", r.path(), err)
	}
	r.next++
	return data, stReady, nil
}

// line returns the length of the complete line at the read position.
func (r *segReader) line() (int, status, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(r.buf[r.r+scanned:r.w], '\n'); i >= 0 {
			return scanned + i, stReady, nil
		}
		scanned = r.w - r.r
		if int64(scanned) > maxJSONLine {
			return 0, 0, corruptErr(r, "no end of line within %d bytes", maxJSONLine)
		}
		if int64(scanned) >= r.avail() {
			return 0, stWait, nil
		}
		ok, err := r.fill(scanned + 1)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return 0, stWait, nil
		}
	}
}

func (r *segReader) jsonEntry(keep bool) ([]byte, status, error) {
	n, st, err := r.line()
	if err != nil || st != stReady {
		return nil, st, err
	}
	data, problem := decodeJSONLine(r.buf[r.r:r.r+n], r.next, keep)
	if problem == "" && len(data) > MaxEntrySize {
		problem = fmt.Sprintf("JSON entry holds %d bytes, more than the %d-byte limit", len(data), MaxEntrySize)
	}
	if problem != "" {
		return nil, 0, corruptErr(r, "%s", problem)
	}
	r.consume(n + 1)
	r.next++
	return data, stReady, nil
}

// decodeJSONLine decodes one line (without its newline) of a JSON log. It
// returns a reason when the line is not entry want.
func decodeJSONLine(line []byte, want uint64, keep bool) ([]byte, string) {
	index, body, escaped, ok := splitJSONLine(line)
	if !ok {
		// Not byte for byte what tidwall writes; accept any JSON object
		// with the two members, as tidwall's reader would.
		var v struct {
			Index *string `json:"index"`
			Data  *string `json:"data"`
		}
		if err := json.Unmarshal(line, &v); err != nil || v.Index == nil || v.Data == nil {
			return nil, "not a tidwall/wal JSON entry: " + excerpt(line)
		}
		if index, ok = parseDecimal([]byte(*v.Index)); !ok {
			return nil, "JSON entry has a bad index: " + excerpt(line)
		}
		body, escaped = []byte(*v.Data), false
	}
	if index != want {
		return nil, fmt.Sprintf("JSON entry has index %d, want %d", index, want)
	}
	if len(body) == 0 || (body[0] != '+' && body[0] != '$') {
		return nil, `JSON entry data does not start with "+" or "$": ` + excerpt(line)
	}
	if !keep {
		return nil, ""
	}
	payload := body[1:]
	if body[0] == '$' {
		data := make([]byte, base64.URLEncoding.DecodedLen(len(payload)))
		n, err := base64.URLEncoding.Decode(data, payload)
		if err != nil {
			return nil, "JSON entry has bad base64 data: " + err.Error()
		}
		return data[:n], ""
	}
	if !escaped || bytes.IndexByte(payload, '\\') < 0 {
		if escaped && bytes.IndexByte(payload, '"') >= 0 {
			return nil, "JSON entry has a bad string: " + excerpt(line)
		}
		return bytes.Clone(payload), ""
	}
	data, ok := appendUnescaped(make([]byte, 0, len(payload)), payload)
	if !ok {
		return nil, "JSON entry has a bad string: " + excerpt(line)
	}
	return data, ""
}

// splitJSONLine takes apart a line in exactly the shape tidwall writes:
// {"index":"N","data":"BODY"}. BODY is still JSON-escaped.
func splitJSONLine(line []byte) (index uint64, body []byte, escaped, ok bool) {
	const mid, tail = `","data":"`, `"}`
	// The length check comes first: `{"index":"}` has both the prefix and
	// the tail, overlapping.
	if len(line) < len(jsonPrefix)+len(tail) || !bytes.HasPrefix(line, []byte(jsonPrefix)) || !bytes.HasSuffix(line, []byte(tail)) {
		return 0, nil, false, false
	}
	rest := line[len(jsonPrefix) : len(line)-len(tail)]
	q := bytes.IndexByte(rest, '"')
	if q < 0 || !bytes.HasPrefix(rest[q:], []byte(mid)) {
		return 0, nil, false, false
	}
	if index, ok = parseDecimal(rest[:q]); !ok {
		return 0, nil, false, false
	}
	return index, rest[q+len(mid):], true, true
}

func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func excerpt(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// bufferedEntry reports whether the buffer already holds the whole next
// entry, so it can be returned without looking at the file again.
func (r *segReader) bufferedEntry(fb *formatBox) bool {
	b := r.buf[r.r:r.w]
	switch fb.get() {
	case FormatBinary:
		size, n := binary.Uvarint(b)
		return n > 0 && size <= uint64(len(b)-n)
	case FormatJSON:
		return bytes.IndexByte(b, '\n') >= 0
	}
	return false
}
