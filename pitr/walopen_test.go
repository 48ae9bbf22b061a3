package pitr

// These tests open restored logs with github.com/tidwall/wal itself, and
// compare the files with the ones tidwall writes.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	tidwall "github.com/tidwall/wal"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

func TestTidwallOpensRestoredLog(t *testing.T) {
	for _, format := range formats {
		for _, start := range []uint64{1, 1000} {
			t.Run(fmt.Sprintf("%s/start=%d", format, start), func(t *testing.T) {
				f := newFixture(t, newMem(), format, int64(start)+40)
				if start != 1 {
					f.big = 128 << 10 // 1 MiB entries: start=1 has them
				}
				f.timeline(t, segments.Timeline{ID: 1, StartIndex: start}, 300)
				for _, size := range []int64{4096, DefaultSegmentSize} {
					checkTidwall(t, f.st, Target{}, format, size, f.own[1])
				}
				n := start + 150
				checkTidwall(t, f.st, Target{Index: n}, format, 8192, f.own[1][:151])
			})
		}
		t.Run(fmt.Sprintf("%s/fork-and-gap", format), func(t *testing.T) {
			f := fixtureFork(t, newMem(), format, 41)
			want, _ := f.expect(3, f.latest(3))
			checkTidwall(t, f.st, Target{}, format, 8192, want)
			fg := fixtureGap(t, newMem(), format, 42)
			checkTidwall(t, fg.st, Target{}, format, 8192, fg.own[2])
		})
	}
}

func checkTidwall(t *testing.T, st backends.Store, tg Target, format wal.Format, size int64, want []segments.Entry) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	_, res, err := Restore(context.Background(), st, tg, out, Options{SegmentSize: size})
	if err != nil {
		t.Fatal(err)
	}
	tidwallReads(t, res.WALDir, format, size, want)
}

// tidwallReads opens the log in dir with tidwall in format and fails
// unless it holds exactly want and takes a next entry.
func tidwallReads(t *testing.T, dir string, format wal.Format, size int64, want []segments.Entry) {
	t.Helper()
	lf := tidwall.Binary
	if format == wal.FormatJSON {
		lf = tidwall.JSON
	}
	l, err := tidwall.Open(dir, &tidwall.Options{LogFormat: lf, AllowEmpty: true, SegmentSize: int(size)})
	if err != nil {
		t.Fatalf("tidwall Open: %v", err)
	}
	defer l.Close()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	if first != want[0].Index || last != want[len(want)-1].Index {
		t.Fatalf("tidwall sees %d..%d, want %s", first, last, span(want))
	}
	for _, e := range want {
		got, err := l.Read(e.Index)
		if err != nil || !bytes.Equal(got, e.Data) {
			t.Fatalf("tidwall Read(%d): %d bytes, %v; want %d bytes", e.Index, len(got), err, len(e.Data))
		}
	}
	// The log stays writable by tidwall, as the database will use it.
	if err := l.Write(last+1, []byte("next")); err != nil {
		t.Fatalf("tidwall Write after the restored log: %v", err)
	}
}

// For a log starting at 1, the restored files are byte for byte the files
// tidwall writes for the same entries (less the empty file tidwall opens
// when the last entry fills a file).
func TestTidwallSameBytes(t *testing.T) {
	for _, format := range formats {
		for _, size := range []int64{1024, 64 << 10} {
			t.Run(fmt.Sprintf("%s/size=%d", format, size), func(t *testing.T) {
				f := newFixture(t, newMem(), format, 43)
				f.big = 8 << 10
				f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
				out := filepath.Join(t.TempDir(), "out")
				_, res, err := Restore(context.Background(), f.st, Target{}, out, Options{SegmentSize: size})
				if err != nil {
					t.Fatal(err)
				}
				sameAsTidwall(t, res.WALDir, format, size, f.own[1])
			})
		}
	}
}

// sameAsTidwall fails unless dir holds the files tidwall writes for es
// (from index 1) in format with segment size size.
func sameAsTidwall(t *testing.T, dir string, format wal.Format, size int64, es []segments.Entry) {
	t.Helper()
	ref := filepath.Join(t.TempDir(), "ref")
	lf := tidwall.Binary
	if format == wal.FormatJSON {
		lf = tidwall.JSON
	}
	l, err := tidwall.Open(ref, &tidwall.Options{LogFormat: lf, SegmentSize: int(size), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := l.Write(e.Index, e.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, want := dirFiles(t, dir), dirFiles(t, ref)
	if len(got) != len(want) {
		t.Fatalf("restored %d files, tidwall wrote %d", len(got), len(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Fatalf("file %s differs from tidwall's (%s)", name, format)
		}
	}
}

func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			m[de.Name()] = b
		}
	}
	return m
}
