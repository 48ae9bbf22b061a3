package pitr

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// Options.Format writes the restored log in the format asked for,
// whatever the source's: tidwall reads every entry back byte for byte, and
// the files are the ones tidwall itself writes for those entries in that
// format.

func otherFormat(f wal.Format) wal.Format {
	if f == wal.FormatBinary {
		return wal.FormatJSON
	}
	return wal.FormatBinary
}

// restoreAs restores the latest of st as format and checks the result
// with tidwall: the files are the ones it writes for want (from index 1),
// and it opens the log and reads want back.
func restoreAs(t *testing.T, st *file.Store, source, format wal.Format, size int64, want []segments.Entry) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	p, res, err := Restore(context.Background(), st, Target{}, out, Options{SegmentSize: size, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != source || res.Format != format {
		t.Fatalf("source format %s, written %s; want %s, %s", p.Format, res.Format, source, format)
	}
	sameAsTidwall(t, res.WALDir, format, size, want)
	tidwallReads(t, res.WALDir, format, size, want) // last: it appends an entry
}

func TestRestoreAs(t *testing.T) {
	for _, source := range formats {
		for _, size := range []int64{4096, DefaultSegmentSize} {
			to := otherFormat(source)
			t.Run(fmt.Sprintf("%s-as-%s/size=%d", source, to, size), func(t *testing.T) {
				st, err := file.Open(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				f := newFixture(t, st, source, 44)
				f.big = 64 << 10
				f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
				restoreAs(t, st, source, to, size, f.own[1])
				restoreAs(t, st, source, source, size, f.own[1]) // asked for the source's own
			})
		}
	}
}

// goldenV1Entry is segments' golden entry: text, text with bytes that are
// not UTF-8, or empty.
func goldenV1Entry(tl uint32, i uint64) []byte {
	if tl == 2 && i > 250 {
		return fmt.Appendf(nil, "timeline 2 rewrote entry %d", i)
	}
	b := fmt.Appendf(nil, "golden entry %d ", i)
	if i%5 == 0 {
		b = append(b, 0xff, 0x00, byte(i), byte(i>>8))
	}
	if i%7 == 0 {
		b = nil
	}
	return b
}

// TestRestoreGoldenV1AsJSON: the golden v1 store (binary source) restores
// as a JSON log that tidwall reads entry for entry.
func TestRestoreGoldenV1AsJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS("../testdata/golden-v1")); err != nil {
		t.Fatal(err)
	}
	st, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []segments.Entry
	for i := uint64(1); i <= 320; i++ {
		tl := uint32(1)
		if i > 250 {
			tl = 2
		}
		want = append(want, segments.Entry{Index: i, Data: goldenV1Entry(tl, i)})
	}
	restoreAs(t, st, wal.FormatBinary, wal.FormatJSON, 4096, want)
}
