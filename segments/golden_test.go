package segments_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// The golden store was written by walship's format v1 code. It must restore
// with every later walship: regenerate it only to add a new version's store
// beside it, never to change v1's.
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden-v1 (only when creating it)")

const goldenDir = "../testdata/golden-v1"

func goldenEntry(tl uint32, i uint64) []byte {
	if tl == 2 && i > 250 {
		return []byte(fmt.Sprintf("timeline 2 rewrote entry %d", i))
	}
	b := []byte(fmt.Sprintf("golden entry %d ", i))
	if i%5 == 0 {
		b = append(b, 0xff, 0x00, byte(i), byte(i>>8)) // binary bytes too
	}
	if i%7 == 0 {
		b = nil
	}
	return b
}

func goldenTime(i uint64) int64 {
	return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano() + int64(i)*int64(time.Millisecond)
}

func writeGolden(t *testing.T) {
	writeStore(t, goldenDir, []goldenSeg{
		{tl: 1, first: 1, last: 100, codec: segments.CodecZstd, version: 1},
		{tl: 1, first: 101, last: 200, codec: segments.CodecNone, version: 1},
		{tl: 1, first: 201, last: 300, codec: segments.CodecZstd, version: 1},
		{tl: 2, first: 251, last: 320, codec: segments.CodecZstd, version: 1},
	})
}

// goldenSeg is one segment of a golden store: goldenEntry(tl, i) for i in
// first..last, written in the given format version (2: sealed to
// recipients when there are any).
type goldenSeg struct {
	tl          uint32
	first, last uint64
	codec       segments.Codec
	version     int
	recipients  []*crypt.Recipient
}

// writeStore writes a golden store in dir: the two timelines every golden
// store has (timeline 2 forks from 1 after entry 250) and segs.
func writeStore(t *testing.T, dir string, segs []goldenSeg) {
	os.RemoveAll(dir)
	st, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(key string, b []byte) {
		if err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	tls := []segments.Timeline{
		{ID: 1, StartIndex: 1, Reason: "walship started", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: 2, Parent: 1, ForkIndex: 250, StartIndex: 251, Reason: "TruncateBack", Time: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)},
	}
	for _, tl := range tls {
		b, err := segments.EncodeTimeline(tl)
		if err != nil {
			t.Fatal(err)
		}
		put(segments.TimelineKey(tl.ID), b)
	}
	for _, s := range segs {
		var buf sink
		var w segments.SegmentWriter
		if s.version == 1 {
			w, err = segments.NewWriter(&buf, s.tl, 1, s.codec)
		} else {
			w, err = segments.NewWriterV2(&buf, s.tl, 1, s.codec, s.recipients)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := s.first; i <= s.last; i++ {
			if err := w.Append(segments.Entry{Index: i, Time: goldenTime(i), Data: goldenEntry(s.tl, i)}); err != nil {
				t.Fatal(err)
			}
		}
		h, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		put(segments.NameOf(h).Key(), buf.b)
	}
	os.RemoveAll(filepath.Join(dir, ".walship~tmp"))
}

type sink struct{ b []byte }

func (s *sink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *sink) WriteAt(p []byte, off int64) (int, error) {
	copy(s.b[off:], p)
	return len(p), nil
}

func TestGoldenV1Restores(t *testing.T) {
	if *updateGolden {
		writeGolden(t)
	}
	st, err := file.Open(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Join(goldenDir, ".walship~tmp"))
	rep, err := pitr.Verify(context.Background(), st)
	if err != nil || !rep.OK() || rep.Segments != 4 || rep.Timelines != 2 {
		t.Fatalf("verify golden store: %+v %v", rep, err)
	}
	checkRestores(t, st, goldenCases, pitr.Options{})
}

// goldenCase is a restore of a golden store and the log it must yield:
// goldenEntry(tl, i) for i in from..to, byte for byte.
type goldenCase struct {
	target   pitr.Target
	tl       uint32
	from, to uint64
}

// goldenCases are the restores every golden store answers alike.
var goldenCases = []goldenCase{
	{pitr.Target{Latest: true}, 2, 1, 320},
	{pitr.Target{Timeline: 1}, 1, 1, 300},
	{pitr.Target{Index: 260}, 2, 1, 260},
	{pitr.Target{Time: time.Unix(0, goldenTime(150))}, 2, 1, 150},
}

// checkRestores restores each case from st with o and compares the log.
func checkRestores(t *testing.T, st backends.Store, cases []goldenCase, o pitr.Options) {
	t.Helper()
	ctx := context.Background()
	for _, c := range cases {
		out := t.TempDir()
		if _, _, err := pitr.Restore(ctx, st, c.target, out, o); err != nil {
			t.Fatalf("restore %+v: %v", c.target, err)
		}
		l, err := tidwal.Open(filepath.Join(out, "wal"), &tidwal.Options{AllowEmpty: true})
		if err != nil {
			t.Fatal(err)
		}
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if first != c.from || last != c.to {
			t.Fatalf("restore %+v: %d..%d, want %d..%d", c.target, first, last, c.from, c.to)
		}
		for i := c.from; i <= c.to; i++ {
			got, err := l.Read(i)
			if err != nil || !bytes.Equal(got, goldenEntry(c.tl, i)) {
				t.Fatalf("restore %+v: entry %d = %q, %v", c.target, i, got, err)
			}
		}
		l.Close()
	}
}
