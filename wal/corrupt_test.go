package wal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/wal"
)

// TestCorruptJSONLineFromTidwall: a log written by tidwall/wal in JSON
// format, with its third line replaced by `{"index":"}` (which used to make
// the decoder slice out of range and panic), gives entries 1 and 2, then a
// *wal.CorruptError naming the file and the line's byte offset, from Next,
// Scan and Bounds alike.
func TestCorruptJSONLineFromTidwall(t *testing.T) {
	dir := t.TempDir()
	l := tidLog(t, dir, wal.FormatJSON, 1<<20)
	writeRange(t, l, 3, 1, 5, 40)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, segName(1))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	offset := len(lines[0]) + len(lines[1])
	lines[2] = []byte(`{"index":"}` + "\n")
	writeFile(t, path, bytes.Join(lines, nil))

	tl := open(t, dir, wal.Options{})
	expect(t, tl, 1, gen(3, 1, 2, 40))
	for _, call := range []struct {
		name string
		err  func() error
	}{
		{"Next", func() error { return nextErr(t, tl) }},
		{"Next again", func() error { return nextErr(t, tl) }},
		{"Scan", func() error { return tl.Scan(1, 5, func(wal.Entry) error { return nil }) }},
		{"Bounds", func() error { _, _, err := tl.Bounds(); return err }},
	} {
		checkCorrupt(t, call.name, call.err(), path, int64(offset), 3)
	}
}

// checkCorrupt asserts that err is a *wal.CorruptError at file and offset.
func checkCorrupt(t *testing.T, what string, err error, file string, offset int64, index uint64) {
	t.Helper()
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("%s: %v, want a *wal.CorruptError", what, err)
	}
	if ce.File != file || ce.Offset != offset || ce.Index != index || ce.Reason == "" {
		t.Errorf("%s: %+v, want file %s, offset %d, entry %d and a reason", what, ce, file, offset, index)
	}
	for _, w := range []string{file, "at byte", "entry"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not mention %q", what, err, w)
		}
	}
}

// TestCorruptShapes: every malformed line or length in the middle of the
// last file (more good entries follow it) is a *wal.CorruptError at its
// offset, after the good entries before it, and never a panic.
func TestCorruptShapes(t *testing.T) {
	jsonBad := []string{
		`{"index":"}`,
		`{"index":"`,
		`{"index":""}`,
		`{"index":"3"}`,
		`{"index":"3","data":"}`,
		`{"index":"3","data":"`,
		`{"index":"3","data":"+}`,
		`{"index":"3","data":"+\"}`,
		`{"index":"3","data":"+\u12"}`,
		`{"index":"3","data":"+\ud800\u"}`,
		`{"index":"3","data":"+x"}}`,
		`{"index":"3","data":"$a"}`,
		`{"index":"3","data":"$"}x`,
		`{"index":"18446744073709551616","data":"+x"}`,
		`{"index":"-3","data":"+x"}`,
		`{"index":"3","data":"+x"`,
		`{"index":"3","data":null}`,
		`{"index":"3","data":5}`,
		`{}`,
		`"`,
		`{`,
		``,
		"\x00\x00\x00",
		`{"index":"3","data":"+x","index":"4"}`,
	}
	var bin [][]byte
	for _, b := range [][]byte{
		binary.AppendUvarint(nil, 1<<63),              // huge
		binary.AppendUvarint(nil, wal.MaxEntrySize+1), // just over the limit
		{0x80, 0x00},       // zero, not in shortest form
		{0x85, 0x80, 0x00}, // 5, not in shortest form
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // overflows 64 bits
	} {
		bin = append(bin, append(b, bytes.Repeat([]byte("x"), 16)...))
	}
	good := [][]byte{[]byte("one"), []byte("two")}
	type tcase struct {
		format wal.Format
		bad    []byte
	}
	var cases []tcase
	for _, s := range jsonBad {
		cases = append(cases, tcase{wal.FormatJSON, append([]byte(s), '\n')})
	}
	for _, b := range bin {
		cases = append(cases, tcase{wal.FormatBinary, b})
	}
	for _, tc := range cases {
		t.Run(tc.format.String()+"/"+strings.ToValidUTF8(string(tc.bad[:min(len(tc.bad), 24)]), "?"), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, segName(1))
			b := encode(tc.format, 1, good...)
			offset := int64(len(b))
			b = append(b, tc.bad...)
			b = append(b, encode(tc.format, 4, []byte("four"), []byte("five"))...)
			writeFile(t, path, b)
			tl := open(t, dir, wal.Options{})
			expect(t, tl, 1, good)
			checkCorrupt(t, "Next", nextErr(t, tl), path, offset, 3)
			checkCorrupt(t, "Scan", tl.Scan(1, 3, func(wal.Entry) error { return nil }), path, offset, 3)
		})
	}
}

// TestLongLengthAtTailWaits: a binary length within the limit that runs past
// the end of the last file is a write in progress, not corruption.
func TestLongLengthAtTailWaits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, segName(1))
	b := encode(wal.FormatBinary, 1, []byte("one"))
	b = append(binary.AppendUvarint(b, 1<<20), "partial"...)
	writeFile(t, path, b)
	tl := open(t, dir, wal.Options{})
	expect(t, tl, 1, [][]byte{[]byte("one")})
	expectBlocked(t, tl, 30*time.Millisecond)
	if first, last, err := tl.Bounds(); err != nil || first != 1 || last != 1 {
		t.Errorf("Bounds() = %d, %d, %v; want 1, 1", first, last, err)
	}
}

// TestLastIndexOverflow: a file named by the largest index holds at most
// that one entry; a second one is corruption, not index 0.
func TestLastIndexOverflow(t *testing.T) {
	dir := t.TempDir()
	const top = 1<<64 - 1
	path := filepath.Join(dir, segName(top))
	writeFile(t, path, encode(wal.FormatBinary, top, []byte("a"), []byte("b")))
	tl := open(t, dir, wal.Options{})
	checkCorrupt(t, "Next", nextErr(t, tl), path, 0, top)
}
