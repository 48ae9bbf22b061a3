package segments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// memSink is an in-memory Sink.
type memSink struct{ b []byte }

func (m *memSink) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }
func (m *memSink) WriteAt(p []byte, off int64) (int, error) {
	copy(m.b[off:], p)
	return len(p), nil
}

func makeEntries(n int, first uint64, seed int64) []Entry {
	r := rand.New(rand.NewSource(seed))
	es := make([]Entry, n)
	for i := range es {
		size := r.Intn(300)
		if i%17 == 0 {
			size = 0
		}
		d := make([]byte, size)
		r.Read(d)
		es[i] = Entry{Index: first + uint64(i), Time: int64(1_700_000_000_000_000_000 + i*1000), Data: d}
	}
	return es
}

func encode(t testing.TB, es []Entry, codec Codec) ([]byte, Header) {
	t.Helper()
	var s memSink
	w, err := NewWriter(&s, 3, 1, codec)
	if err != nil {
		t.Fatal(err)
	}
	return writeAll(t, w, es, &s)
}

func decodeAll(b []byte) ([]Entry, Header, error) { return decodeWith(b) }

func TestRoundTrip(t *testing.T) {
	for _, codec := range []Codec{CodecZstd, CodecNone} {
		t.Run(codec.String(), func(t *testing.T) {
			es := makeEntries(1000, 42, 1)
			b, h := encode(t, es, codec)
			if h.First != 42 || h.Last != 1041 || h.Count != 1000 || h.Timeline != 3 || h.SourceFormat != 1 {
				t.Fatalf("header %+v", h)
			}
			if h.MinTime != es[0].Time || h.MaxTime != es[999].Time {
				t.Fatalf("times %d..%d", h.MinTime, h.MaxTime)
			}
			got, gh, err := decodeAll(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gh, h) || len(got) != len(es) {
				t.Fatalf("decoded %d entries, header %+v", len(got), gh)
			}
			for i := range es {
				if got[i].Index != es[i].Index || got[i].Time != es[i].Time || !bytes.Equal(got[i].Data, es[i].Data) {
					t.Fatalf("entry %d differs", i)
				}
			}
			if _, err := CheckStored(bytes.NewReader(b)); err != nil {
				t.Fatalf("CheckStored: %v", err)
			}
		})
	}
}

// Every single-byte corruption of a segment is detected by the reader and
// (outside the compressed frames' own checks) by CheckStored.
func TestEveryByteFlipDetected(t *testing.T) {
	for _, codec := range []Codec{CodecZstd, CodecNone} {
		b, _ := encode(t, makeEntries(20, 1, 2), codec)
		for i := range b {
			c := bytes.Clone(b)
			c[i] ^= 0x40
			if _, _, err := decodeAll(c); err == nil {
				t.Fatalf("%s: flip at byte %d of %d not detected by Reader", codec, i, len(b))
			}
			if _, err := CheckStored(bytes.NewReader(c)); err == nil {
				t.Fatalf("%s: flip at byte %d not detected by CheckStored", codec, i)
			}
		}
		for _, cut := range []int{0, 5, HeaderSizeV1 - 1, HeaderSizeV1, len(b) - 1} {
			if _, _, err := decodeAll(b[:cut]); err == nil {
				t.Fatalf("%s: truncation to %d bytes not detected", codec, cut)
			}
		}
		if _, _, err := decodeAll(append(bytes.Clone(b), 0)); err == nil {
			t.Fatalf("%s: trailing byte not detected", codec)
		}
	}
}

func TestUnknownVersion(t *testing.T) {
	b, _ := encode(t, makeEntries(3, 1, 3), CodecZstd)
	b[9] = 99
	if _, err := NewReader(bytes.NewReader(b)); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("got %v, want ErrUnknownVersion", err)
	}
}

func TestWriterRejects(t *testing.T) {
	var s memSink
	w, _ := NewWriter(&s, 1, 1, CodecZstd)
	if err := w.Append(Entry{Index: 5}); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(Entry{Index: 7}); err == nil {
		t.Fatal("gap accepted")
	}
	w.Abort()
	w2, _ := NewWriter(&memSink{}, 1, 1, CodecZstd)
	if _, err := w2.Finish(); err == nil {
		t.Fatal("empty segment finished")
	}
}

// A large segment streams through a file; memory does not hold it.
func TestLargeOnFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, 1, 2, CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("walship "), 512<<10) // 4 MiB
	for i := uint64(1); i <= 8; i++ {
		if err := w.Append(Entry{Index: i, Data: big}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Data, big) {
			t.Fatal("large entry differs")
		}
		n++
	}
	if n != 8 || h.RawLen != 8*(uint64(len(big))+frameHeaderSize) {
		t.Fatalf("n=%d rawlen=%d", n, h.RawLen)
	}
}

func TestSegmentKeys(t *testing.T) {
	n := SegmentName{Timeline: 0x1a, First: 1, Last: 4096, MaxTime: 1_700_000_000_123_456_789}
	k := n.Key()
	if k != "segments/0000001a/00000000000000000001-00000000000000004096-01700000000123456789.wseg" {
		t.Fatalf("key %s", k)
	}
	got, err := ParseSegmentKey(k)
	if err != nil || got != n {
		t.Fatalf("parse %s = %+v, %v", k, got, err)
	}
	a := SegmentName{Timeline: 1, First: 9, Last: 10}.Key()
	b := SegmentName{Timeline: 1, First: 10, Last: 11}.Key()
	c := SegmentName{Timeline: 2, First: 1, Last: 1}.Key()
	if !(a < b && b < c) {
		t.Fatal("keys do not sort by (timeline, first)")
	}
	if s := SeekKey(1, 10); !(a < s && s < b) {
		t.Fatalf("seek key %s does not fall between %s and %s", s, a, b)
	}
	hostile := []string{
		"segments/00000001/../../etc/passwd",
		"segments/00000001/00000000000000000001-00000000000000000000-00000000000000000000.wseg",
		"segments/00000000/00000000000000000001-00000000000000000001-00000000000000000000.wseg",
		"segments/0000000g/00000000000000000001-00000000000000000001-00000000000000000000.wseg",
		"segments/00000001/0000000000000000000a-00000000000000000001-00000000000000000000.wseg",
		"segments/00000001/00000000000000000001-00000000000000000001-00000000000000000000.wseg/x",
		"segments/00000001/+0000000000000000001-00000000000000000001-00000000000000000000.wseg",
		"segments/0000001A/00000000000000000001-00000000000000000001-00000000000000000000.wseg", // upper-case hex
		"segments/0000001a/00000000000000000001-00000000000000000001-99999999999999999999.wseg", // time overflows
		"other/00000001.wseg",
	}
	for _, h := range hostile {
		if _, err := ParseSegmentKey(h); err == nil {
			t.Errorf("hostile key %q parsed", h)
		}
	}
	if tl, err := ParseTimelineKey(TimelineKey(77)); err != nil || tl != 77 {
		t.Fatalf("timeline key: %d %v", tl, err)
	}
	for _, h := range []string{"timelines/0000004D.json", "timelines/../x.json", "timelines/00000000.json", "timelines/1.json"} {
		if _, err := ParseTimelineKey(h); err == nil {
			t.Errorf("hostile timeline key %q parsed", h)
		}
	}
}

func TestTimelineRecord(t *testing.T) {
	tl := Timeline{ID: 2, Parent: 1, ForkIndex: 100, StartIndex: 101, Reason: "TruncateBack", Time: time.Unix(1700000000, 5).UTC()}
	b, err := EncodeTimeline(tl)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTimeline(b)
	if err != nil || !got.Time.Equal(tl.Time) || got.ID != 2 || got.ForkIndex != 100 || got.HasGap() {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	bad := bytes.Replace(b, []byte(`"fork_index":100`), []byte(`"fork_index":101`), 1)
	if _, err := DecodeTimeline(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered record: %v", err)
	}
	if _, err := EncodeTimeline(Timeline{ID: 1, Parent: 1, StartIndex: 1}); err == nil {
		t.Fatal("self-parent accepted")
	}
	gap := Timeline{ID: 3, Parent: 2, ForkIndex: 10, StartIndex: 50}
	if !gap.HasGap() {
		t.Fatal("gap not seen")
	}
	v2 := bytes.Replace(b, []byte(`"version":1`), []byte(`"version":9`), 1)
	if _, err := DecodeTimeline(v2); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("unknown version: %v", err)
	}
	_ = fmt.Sprint()
}

// AppendCRC seals the CRC it is given: an entry whose data no longer
// matches the CRC its reader computed (damaged between the two) makes a
// segment that fails its check, never one that restores the damage.
func TestAppendCRCKeepsTheReadersCRC(t *testing.T) {
	es := makeEntries(20, 1, 3)
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		var good, bad memSink
		wg, _ := NewWriter(&good, 1, 1, codec)
		wb, _ := NewWriter(&bad, 1, 1, codec)
		for i, e := range es {
			crc := CRC32C(e.Data)
			if err := wg.AppendCRC(e, crc); err != nil {
				t.Fatal(err)
			}
			if i == 7 { // the data changed after it was read and checksummed
				e.Data = append([]byte("damaged"), e.Data...)
			}
			if err := wb.AppendCRC(e, crc); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := wg.Finish(); err != nil {
			t.Fatal(err)
		}
		if _, err := wb.Finish(); err != nil {
			t.Fatal(err)
		}
		got, _, err := decodeAll(good.b)
		if err != nil || !reflect.DeepEqual(got, es) {
			t.Fatalf("codec %v: the segment sealed with the readers' CRCs: %v", codec, err)
		}
		if _, _, err := decodeAll(bad.b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("codec %v: a segment holding data its CRC does not match: %v, want ErrCorrupt", codec, err)
		}
	}
}

// A reader told the bytes are checked (ReadOptions.Checked) skips only the
// payload SHA-256: damage to an entry's data still fails its CRC32C, and
// damage the SHA-256 alone would see (an entry's time, which a restore does
// not write) passes, as documented.
func TestCheckedReaderSkipsOnlyTheHash(t *testing.T) {
	es := makeEntries(20, 7, 1)
	b, _ := encode(t, es, CodecNone)
	got, _, err := decodeOpts(b, ReadOptions{Checked: true})
	if err != nil || !sameEntries(got, es) {
		t.Fatalf("checked reader on a good segment: %d entries, %v", len(got), err)
	}
	data := bytes.Clone(b)
	data[len(data)-1] ^= 1 // the last entry's last data byte
	if _, _, err := decodeOpts(data, ReadOptions{Checked: true}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "CRC32C") {
		t.Fatalf("checked reader, damaged data: %v, want a CRC32C error", err)
	}
	tm := bytes.Clone(b)
	tm[HeaderSizeV1+15] ^= 1 // first entry's time
	if _, _, err := decodeAll(tm); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("full reader, damaged time: %v, want a SHA-256 error", err)
	}
	if _, _, err := decodeOpts(tm, ReadOptions{Checked: true}); err != nil {
		t.Fatalf("checked reader, damaged time: %v, want no error (the hash is the caller's)", err)
	}
}

// TestSegmentNameSize: a listing or plan holds one name per segment; a
// field order that pads it costs a quarter more memory.
func TestSegmentNameSize(t *testing.T) {
	if n := unsafe.Sizeof(SegmentName{}); n != 32 {
		t.Fatalf("SegmentName takes %d bytes, want 32", n)
	}
}
