package wal_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/wal"
)

// TestTornTail: a partly written last entry is waited for, not reported.
func TestTornTail(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, segName(1))
			a, b := []byte("first"), []byte{0xff, 0, 1, 2}
			writeFile(t, path, encode(f, 1, a, b))
			tl := open(t, dir, wal.Options{})
			expect(t, tl, 1, [][]byte{a, b})

			c := []byte(strings.Repeat("x", 300)) // two-byte uvarint length
			enc := encode(f, 3, c)
			appendFile(t, path, enc[:1]) // half a length, or half a line
			expectBlocked(t, tl, 50*time.Millisecond)
			appendFile(t, path, enc[1:100])
			expectBlocked(t, tl, 50*time.Millisecond)
			if first, last, err := tl.Bounds(); err != nil || first != 1 || last != 2 {
				t.Errorf("Bounds() with a torn tail = %d, %d, %v; want 1, 2", first, last, err)
			}
			appendFile(t, path, enc[100:])
			expect(t, tl, 3, [][]byte{c})
			expectBlocked(t, tl, 20*time.Millisecond)
		})
	}
}

// TestEmptyLog: a log with no entries yet (tidwall creates an empty first
// segment) opens, has no format, blocks, and follows the first append.
func TestEmptyLog(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, segName(1)), nil)
	tl := open(t, dir, wal.Options{})
	if tl.Format() != wal.FormatAuto {
		t.Errorf("Format() of an empty log = %v, want auto", tl.Format())
	}
	if first, last, err := tl.Bounds(); err != nil || first != 1 || last != 0 {
		t.Errorf("Bounds() = %d, %d, %v; want 1, 0", first, last, err)
	}
	expectBlocked(t, tl, 30*time.Millisecond)
	l := tidLog(t, dir, wal.FormatJSON, 1<<20)
	writeRange(t, l, 5, 1, 3, 50)
	expect(t, tl, 1, gen(5, 1, 3, 50))
	if tl.Format() != wal.FormatJSON {
		t.Errorf("Format() = %v, want json", tl.Format())
	}
}

// TestCorrupt: bytes that do not parse where the writer has finished are
// ErrCorrupt, naming the file and the byte offset.
func TestCorrupt(t *testing.T) {
	good := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	cases := []struct {
		name   string
		format wal.Format
		files  func(dir string) // writes the log; entries 1..3 are good
		want   string           // in the message
	}{
		{"binary torn entry in a finished file", wal.FormatBinary, func(dir string) {
			writeFile(t, filepath.Join(dir, segName(1)), append(encode(wal.FormatBinary, 1, good...), binEntry([]byte("four"))[:3]...))
			writeFile(t, filepath.Join(dir, segName(4)), encode(wal.FormatBinary, 4, []byte("x")))
		}, "inside an entry"},
		{"binary length overflow", wal.FormatBinary, func(dir string) {
			bad := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}
			writeFile(t, filepath.Join(dir, segName(1)), append(encode(wal.FormatBinary, 1, good...), bad...))
		}, "overflows"},
		{"binary gap between files", wal.FormatBinary, func(dir string) {
			writeFile(t, filepath.Join(dir, segName(1)), encode(wal.FormatBinary, 1, good...))
			writeFile(t, filepath.Join(dir, segName(10)), encode(wal.FormatBinary, 10, []byte("x")))
		}, "starts at 10"},
		{"json wrong index", wal.FormatJSON, func(dir string) {
			writeFile(t, filepath.Join(dir, segName(1)), append(encode(wal.FormatJSON, 1, good...), jsonLine(7, []byte("x"))...))
		}, "index 7, want 4"},
		{"json garbage line", wal.FormatJSON, func(dir string) {
			writeFile(t, filepath.Join(dir, segName(1)), append(encode(wal.FormatJSON, 1, good...), "hello world\n"...))
		}, "not a tidwall/wal JSON entry"},
		{"json torn line in a finished file", wal.FormatJSON, func(dir string) {
			writeFile(t, filepath.Join(dir, segName(1)), append(encode(wal.FormatJSON, 1, good...), jsonLine(4, []byte("four"))[:12]...))
			writeFile(t, filepath.Join(dir, segName(4)), encode(wal.FormatJSON, 4, []byte("x")))
		}, "inside an entry"},
		{"json bad base64", wal.FormatJSON, func(dir string) {
			writeFile(t, filepath.Join(dir, segName(1)), append(encode(wal.FormatJSON, 1, good...), `{"index":"4","data":"$%%%"}`+"\n"...))
		}, "base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.files(dir)
			offset := len(encode(tc.format, 1, good...))
			tl := open(t, dir, wal.Options{})
			expect(t, tl, 1, good)
			err := nextErr(t, tl)
			if !errors.Is(err, wal.ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			msg := err.Error()
			for _, w := range []string{filepath.Join(dir, segName(1)), fmt.Sprintf("at byte %d", offset), tc.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if err2 := nextErr(t, tl); err2.Error() != msg {
				t.Errorf("second Next: %v, want the same error", err2)
			}
			// Scan reports it too.
			if err := tl.Scan(1, 4, func(wal.Entry) error { return nil }); !errors.Is(err, wal.ErrCorrupt) {
				t.Errorf("Scan: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestFormatMismatch: an explicit format that contradicts the bytes fails
// Open with a message naming the file.
func TestFormatMismatch(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, segName(2)), encode(f, 2, []byte("hello world, this is long enough")))
			other := wal.FormatJSON
			if f == wal.FormatJSON {
				other = wal.FormatBinary
			}
			_, err := wal.Open(dir, wal.Options{Format: other})
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, segName(2))) || !strings.Contains(err.Error(), f.String()) {
				t.Fatalf("Open with format %v of a %v log: %v; want an error naming the file", other, f, err)
			}
			tl := open(t, dir, wal.Options{Format: f})
			if tl.Format() != f {
				t.Errorf("Format() = %v", tl.Format())
			}
			tl = open(t, dir, wal.Options{})
			if tl.Format() != f {
				t.Errorf("detected Format() = %v, want %v", tl.Format(), f)
			}
			if e := next(t, tl); e.Index != 2 {
				t.Errorf("first entry %d, want 2", e.Index)
			}
		})
	}
	if _, err := wal.Open(t.TempDir(), wal.Options{Format: 9}); err == nil {
		t.Error("Open with format 9 succeeded")
	}
}

// TestOpenNotWAL: Open fails with ErrNotWAL, naming the directory.
func TestOpenNotWAL(t *testing.T) {
	base := t.TempDir()
	random := filepath.Join(base, "random")
	os.Mkdir(random, 0o755)
	for _, name := range []string{"foo", "123", segName(0), "0000000000000000000a", segName(5) + ".TEMP", segName(6) + ".START.TEMP", segName(7) + "x"} {
		writeFile(t, filepath.Join(random, name), []byte("junk"))
	}
	os.Mkdir(filepath.Join(random, segName(8)), 0o755) // a directory with a segment's name
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	file := filepath.Join(base, "file")
	writeFile(t, file, nil)
	for _, dir := range []string{filepath.Join(base, "missing"), empty, random, file} {
		_, err := wal.Open(dir, wal.Options{})
		if !errors.Is(err, wal.ErrNotWAL) || !strings.Contains(err.Error(), dir) {
			t.Errorf("Open(%s) = %v; want ErrNotWAL naming the directory", dir, err)
		}
	}
}
