package wal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/wal"
)

// Fuzz targets for the tailer: whatever bytes the source directory holds,
// it returns entries or a *wal.CorruptError, never panics, and allocates in
// proportion to the bytes it reads; what tidwall writes it reads back
// exactly. Seeds: f.Add below and testdata/fuzz/<Name>/.

// fuzzAllocSlack is what the tailer may allocate beyond a few times the
// bytes of the log (read buffers, directory listings, errors).
const fuzzAllocSlack = 16 << 20

func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// done is a cancelled context: Next returns what is complete, then
// context.Canceled instead of waiting for more.
var done = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// tailSeeds are logs (one or two segment files) for FuzzTailer: valid ones
// in both formats and the known-bad shapes.
func tailSeeds() [][2][]byte {
	good := [][]byte{[]byte("one"), {0xff, 0}, []byte(`{"ts":1}`), nil}
	var out [][2][]byte
	for _, f := range formats() {
		out = append(out, [2][]byte{encode(f, 1, good...), nil})
		out = append(out, [2][]byte{encode(f, 1, good[:2]...), encode(f, 3, good[2:]...)})
	}
	bad := func(f wal.Format, mid []byte) [2][]byte {
		b := append(encode(f, 1, good[:2]...), mid...)
		return [2][]byte{append(b, encode(f, 4, good[2:]...)...), nil}
	}
	out = append(out,
		bad(wal.FormatJSON, []byte(`{"index":"}`+"\n")),
		bad(wal.FormatJSON, []byte(`{"index":"3","data":"+\u12"}`+"\n")),
		bad(wal.FormatJSON, []byte(`{"index":"3","data":"$a"}`+"\n")),
		bad(wal.FormatBinary, binary.AppendUvarint(nil, 1<<62)),
		bad(wal.FormatBinary, []byte{0x80, 0x00}),
		[2][]byte{encode(wal.FormatJSON, 1, good...)[:30], encode(wal.FormatJSON, 3, good[2:]...)},
	)
	return out
}

func FuzzTailer(f *testing.F) {
	for _, s := range tailSeeds() {
		f.Add(s[0], s[1], uint8(1)) // the second file starts at entry 3
	}
	f.Fuzz(func(t *testing.T, first, second []byte, next uint8) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, segName(1)), first)
		if len(second) > 0 {
			writeFile(t, filepath.Join(dir, segName(uint64(next)+2)), second)
		}
		limit := uint64(fuzzAllocSlack + 8*(len(first)+len(second)))
		if n := allocated(func() { tailEverything(t, dir, len(second) == 0) }); n > limit {
			t.Fatalf("tailing %d+%d bytes allocated %d, limit %d", len(first), len(second), n, limit)
		}
	})
}

// corruptOK fails the test unless err is nil or a *wal.CorruptError in the
// log.
func corruptOK(t *testing.T, what string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, wal.ErrCorrupt) || ce.Reason == "" || ce.Offset < 0 {
		t.Fatalf("%s: %v, want nil or a *wal.CorruptError", what, err)
	}
	return false
}

// tailEverything reads the log in dir every way the tailer offers and
// checks that the ways agree.
func tailEverything(t *testing.T, dir string, oneFile bool) {
	tl, err := wal.Open(dir, wal.Options{})
	if !corruptOK(t, "Open", err) {
		return
	}
	defer tl.Close()
	var got []wal.Entry
	var nerr error
	for {
		e, err := tl.Next(done)
		if err != nil {
			nerr = err
			break
		}
		if e.Index != uint64(len(got))+1 {
			t.Fatalf("Next returned entry %d after %d entries", e.Index, len(got))
		}
		got = append(got, e)
	}
	if !errors.Is(nerr, context.Canceled) {
		corruptOK(t, "Next", nerr)
		if _, err := tl.Next(done); err == nil || err.Error() != nerr.Error() {
			t.Fatalf("Next after %v: %v, want the same error", nerr, err)
		}
	}
	first, last, berr := tl.Bounds()
	corruptOK(t, "Bounds", berr)
	if berr == nil && first != 1 {
		t.Fatalf("Bounds first = %d, want 1", first)
	}
	if berr == nil && oneFile && nerr == context.Canceled && last != uint64(len(got)) {
		t.Fatalf("Bounds last = %d, but Next returned %d entries and then waited", last, len(got))
	}
	if len(got) == 0 {
		return
	}
	i := 0
	serr := tl.Scan(1, uint64(len(got)), func(e wal.Entry) error {
		if e.Index != got[i].Index || !bytes.Equal(e.Data, got[i].Data) {
			t.Fatalf("Scan entry %d differs from Next's", e.Index)
		}
		i++
		return nil
	})
	if serr != nil && oneFile {
		// Next returned these entries from one file: they are complete and
		// Scan reads the same bytes.
		t.Fatalf("Scan 1..%d: %v", len(got), serr)
	}
}

// FuzzTailerRoundTrip: whatever tidwall/wal writes, in either format and
// over any number of segment files, the tailer returns exactly.
func FuzzTailerRoundTrip(f *testing.F) {
	f.Add([]byte("one\x00two\x00\xff\xfe\x00{\"ts\":1}\x00"), false, uint16(0))
	f.Add([]byte("a\x00\"quoted\" \\ \n\x00\u2028\x00\xc3"), true, uint16(40))
	f.Fuzz(func(t *testing.T, data []byte, json bool, segSize uint16) {
		entries := bytes.Split(data, []byte{0})
		format := wal.FormatBinary
		lf := tidwal.Binary
		if json {
			format, lf = wal.FormatJSON, tidwal.JSON
		}
		dir := t.TempDir()
		l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: lf, SegmentSize: 16 + int(segSize%2048), NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range entries {
			if err := l.Write(uint64(i)+1, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		tl, err := wal.Open(dir, wal.Options{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		defer tl.Close()
		for i, want := range entries {
			e, err := tl.Next(done)
			if err != nil || e.Index != uint64(i)+1 || !bytes.Equal(e.Data, want) {
				t.Fatalf("entry %d: got %d %q, %v; want %q", i+1, e.Index, e.Data, err, want)
			}
		}
		if e, err := tl.Next(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("after the last entry: %d, %v; want context.Canceled", e.Index, err)
		}
		if first, last, err := tl.Bounds(); err != nil || first != 1 || last != uint64(len(entries)) {
			t.Fatalf("Bounds = %d, %d, %v; want 1, %d", first, last, err, len(entries))
		}
		i := 0
		err = tl.Scan(1, uint64(len(entries)), func(e wal.Entry) error {
			if !bytes.Equal(e.Data, entries[i]) {
				t.Fatalf("Scan entry %d: %q, want %q", e.Index, e.Data, entries[i])
			}
			i++
			return nil
		})
		if err != nil || i != len(entries) {
			t.Fatalf("Scan: %d entries, %v", i, err)
		}
	})
}
