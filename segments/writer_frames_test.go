package segments

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// framed is es framed as a raw payload frames them.
func framed(es []Entry) []byte {
	var b []byte
	for _, e := range es {
		b = binary.BigEndian.AppendUint64(b, e.Index)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Time))
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
		b = binary.BigEndian.AppendUint32(b, CRC32C(e.Data))
		b = append(b, e.Data...)
	}
	return b
}

// appendFrames seals b's count frames with AppendFrames, reading b through
// wrap (a reader that returns little at a time, say).
func appendFrames(codec Codec, b []byte, count int, wrap func([]byte) *bytes.Reader) ([]byte, Header, error) {
	var s memSink
	w, err := NewWriter(&s, 3, 1, codec)
	if err != nil {
		return nil, Header{}, err
	}
	if err := w.AppendFrames(iotest.HalfReader(wrap(b)), count); err != nil {
		w.Abort()
		return nil, Header{}, err
	}
	h, err := w.Finish()
	return s.b, h, err
}

// AppendFrames seals the same segment, byte for byte, as Append of the
// same entries: small entries, empty ones, and entries larger than its
// read buffer, read back whole.
func TestAppendFramesSameAsAppend(t *testing.T) {
	es := makeEntries(3000, 41, 7)
	big := bytes.Repeat([]byte("walship "), 100_000) // 800 KB: spans buffers
	es = append(es, Entry{Index: 3041, Time: 5, Data: big}, Entry{Index: 3042, Time: 6}, Entry{Index: 3043, Time: 7, Data: []byte("x")})
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		want, wantHdr := encode(t, es, codec)
		got, hdr, err := appendFrames(codec, framed(es), len(es), bytes.NewReader)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if !reflect.DeepEqual(hdr, wantHdr) || !bytes.Equal(got, want) {
			t.Fatalf("codec %d: AppendFrames sealed %d bytes (%+v), Append %d (%+v)", codec, len(got), hdr, len(want), wantHdr)
		}
		back, _, err := decodeAll(got)
		if err != nil || len(back) != len(es) || !bytes.Equal(back[3000].Data, big) {
			t.Fatalf("codec %d: read back %d entries: %v", codec, len(back), err)
		}
	}
}

// Frames that do not make the promised entries are refused, naming why.
func TestAppendFramesRefuses(t *testing.T) {
	es := makeEntries(50, 1, 3)
	b := framed(es)
	gap := framed([]Entry{es[0], es[2]})
	zero := framed([]Entry{{Index: 0, Data: []byte("a")}})
	huge := framed([]Entry{{Index: 1}})
	binary.BigEndian.PutUint32(huge[16:], MaxEntrySize+1)
	for _, c := range []struct {
		name  string
		b     []byte
		count int
		want  string
	}{
		{"fewer frames", b, 51, "after 50 of 51"},
		{"more frames", b, 49, "more than 49"},
		{"cut in a header", b[:len(b)-len(es[49].Data)-3], 50, "after 49 of 50 entries (3 header"},
		{"cut in the data", b[:len(b)-1], 50, "1 data bytes missing"},
		{"empty", nil, 1, "after 0 of 1"},
		{"an index skipped", gap, 2, "entry 3 follows 1"},
		{"index 0", zero, 1, "index 0"},
		{"too large", huge, 1, "max"},
	} {
		_, _, err := appendFrames(CodecZstd, c.b, c.count, bytes.NewReader)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// FuzzAppendFrames: whatever bytes and count, AppendFrames does not panic,
// and what it accepts reads back as those frames. It trusts the frames'
// CRC32Cs, as AppendCRC does: an entry whose data does not match its CRC
// is sealed, and the reader refuses it there.
func FuzzAppendFrames(f *testing.F) {
	f.Add(framed(makeEntries(5, 1, 1)), 5)
	f.Add(framed(makeEntries(5, 1, 1))[:30], 2)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, count int) {
		if count < 0 || count > 1000 {
			return
		}
		seg, _, err := appendFrames(CodecZstd, b, count, bytes.NewReader)
		if err != nil {
			return
		}
		back, _, err := decodeAll(seg)
		if err != nil && !strings.Contains(err.Error(), "CRC32C") {
			t.Fatalf("accepted frames do not read back: %v", err)
		}
		if got := framed(back); !bytes.HasPrefix(b, got) || err == nil && (len(back) != count || len(got) != len(b)) {
			t.Fatalf("read back %d entries, %d bytes of frames (%v); sealed %d, %d bytes", len(back), len(got), err, count, len(b))
		}
	})
}
