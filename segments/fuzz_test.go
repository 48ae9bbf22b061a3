package segments

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for every decoder of bytes from outside (a store): the
// segment reader (every registered version), chunks, the record envelope and
// the records in it, and every key parser. Each asserts that hostile input
// gives an error, never a panic or a large allocation, and that what decodes
// encodes back to itself. Seeds: f.Add below and testdata/fuzz/<Name>/.

// fuzzAllocSlack is what a decoder may allocate beyond a few times the
// bytes it really reads (zstd tables and windows, buffers).
const fuzzAllocSlack = 16 << 20

// goldenSegments returns the v1 golden segment objects as seeds.
func goldenSegments(f *testing.F) [][]byte {
	paths, _ := filepath.Glob("../testdata/golden-v1/segments/*/*.wseg")
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// zstdOutput counts what a zstd stream decodes to (up to limit), to bound
// what a reader may allocate for it.
func zstdOutput(b []byte, limit int64) int64 {
	dec := decoders.Get()
	defer func() {
		dec.Reset(nil)
		decoders.Put(dec)
	}()
	if err := dec.Reset(bytes.NewReader(b)); err != nil {
		return 0
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(dec, limit))
	return n
}

func FuzzSegmentReader(f *testing.F) {
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		b, _ := encode(f, makeEntries(5, 7, 1), codec)
		f.Add(b)
		f.Add(hostileSegment(codec, MaxEntrySize, MaxEntrySize+frameHeaderSize))
	}
	for _, b := range goldenSegments(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		var es []Entry
		var h Header
		var err error
		alloc := allocated(func() { es, h, err = decodeAll(obj) })
		if limit := limitFor(obj); alloc > limit {
			t.Fatalf("decoding %d bytes allocated %d, limit %d", len(obj), alloc, limit)
		}
		_, cerr := CheckStored(bytes.NewReader(obj))
		// The reader a restore uses on bytes fetch checked: on any bytes no
		// panic and no allocation beyond the full reader's bound; on bytes
		// CheckStored accepts, exactly what the full reader decodes.
		var ces []Entry
		var cherr error
		if alloc := allocated(func() { ces, _, cherr = decodeOpts(obj, ReadOptions{Checked: true}) }); alloc > limitFor(obj) {
			t.Fatalf("checked reader: decoding %d bytes allocated %d, limit %d", len(obj), alloc, limitFor(obj))
		}
		if cerr == nil && ((err == nil) != (cherr == nil) || !sameEntries(es, ces)) {
			t.Fatalf("checked reader: %d entries, err %v; full reader: %d entries, err %v", len(ces), cherr, len(es), err)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrUnknownVersion", err)
			}
			for i, e := range es {
				if e.Index != h.First+uint64(i) {
					t.Fatalf("entry %d has index %d before the error", i, e.Index)
				}
			}
			return
		}
		if cerr != nil {
			t.Fatalf("Reader accepts the object, CheckStored says %v", cerr)
		}
		if uint64(len(es)) != h.Count || es[0].Index != h.First || es[len(es)-1].Index != h.Last {
			t.Fatalf("%d entries %d..%d, header says %d: %d..%d", len(es), es[0].Index, es[len(es)-1].Index, h.Count, h.First, h.Last)
		}
		// What decodes encodes back to the same entries.
		again, h2, err := decodeAll(reencode(t, es, h))
		if err != nil || !sameEntries(again, es) || h2.First != h.First || h2.Last != h.Last || h2.Timeline != h.Timeline {
			t.Fatalf("re-encoded segment: %v", err)
		}
	})
}

// limitFor is the most decoding obj may allocate: a few times its size and
// what its zstd payload decompresses to.
func limitFor(obj []byte) uint64 {
	var decoded int64
	if len(obj) > HeaderSizeV1 && Codec(obj[10]) == CodecZstd {
		decoded = zstdOutput(obj[HeaderSizeV1:], 1<<30)
	}
	return uint64(fuzzAllocSlack + 4*len(obj) + 4*int(decoded))
}

func reencode(t *testing.T, es []Entry, h Header) []byte {
	var s memSink
	w, err := NewWriter(&s, h.Timeline, h.SourceFormat, h.Codec)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return s.b
}

func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Time != b[i].Time || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// FuzzSegmentRoundTrip: any entries written decode to themselves, with
// either codec, and the header describes them.
func FuzzSegmentRoundTrip(f *testing.F) {
	f.Add([]byte("one\x00two\x00\x00three"), uint64(1), int64(1_700_000_000_000_000_000), false)
	f.Add(bytes.Repeat([]byte("entry\x00"), 100), uint64(1<<40), int64(-5), true)
	f.Fuzz(func(t *testing.T, data []byte, first uint64, t0 int64, zstd bool) {
		parts := bytes.Split(data, []byte{0})
		if first == 0 || first+uint64(len(parts)) < first {
			return // not a valid segment: no index 0, no wrap
		}
		codec := CodecNone
		if zstd {
			codec = CodecZstd
		}
		es := make([]Entry, len(parts))
		for i, p := range parts {
			es[i] = Entry{Index: first + uint64(i), Time: t0 + int64(i)*int64(len(p)), Data: p}
		}
		h := Header{Timeline: 9, SourceFormat: 1, Codec: codec}
		obj := reencode(t, es, h)
		got, gh, err := decodeAll(obj)
		if err != nil || !sameEntries(got, es) {
			t.Fatalf("round trip: %v", err)
		}
		if gh.First != first || gh.Count != uint64(len(es)) || gh.Codec != codec || gh.ObjectSize() != int64(len(obj)) {
			t.Fatalf("header %+v", gh)
		}
		if n, err := ParseSegmentKey(NameOf(gh).Key()); err != nil || n != NameOf(gh) {
			t.Fatalf("key of %+v: %+v, %v", gh, n, err)
		}
	})
}

// FuzzChunk: a chunk object from outside fails as corrupt unless it is
// whole; raw bytes encode and decode to themselves with either codec.
func FuzzChunk(f *testing.F) {
	raw := bytes.Repeat([]byte("walship chunk "), 50)
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		obj, _ := EncodeChunk(nil, raw, codec)
		f.Add(obj, raw, codec == CodecZstd)
	}
	f.Add(make([]byte, ChunkHeaderSizeV1), []byte{1}, false)
	f.Fuzz(func(t *testing.T, obj, raw []byte, zstd bool) {
		var err error
		var got []byte
		// The digest is the one the raw bytes would have: a mutated object
		// decodes only if it still holds them.
		want := DigestOf(raw)
		alloc := allocated(func() { got, err = DecodeChunk(obj, want) })
		var decoded int64
		if len(obj) > ChunkHeaderSizeV1 && Codec(obj[10]) == CodecZstd {
			decoded = zstdOutput(obj[ChunkHeaderSizeV1:], MaxChunkSize+1)
		}
		if limit := uint64(fuzzAllocSlack + 4*len(obj) + 4*int(decoded)); alloc > limit {
			t.Fatalf("decoding a %d-byte chunk (%d decompressed) allocated %d, limit %d", len(obj), decoded, alloc, limit)
		}
		if err == nil && !bytes.Equal(got, raw) {
			t.Fatalf("chunk decoded to %d bytes that are not the %d the digest names", len(got), len(raw))
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("error %v is neither ErrCorrupt nor ErrUnknownVersion", err)
		}
		if len(raw) == 0 {
			return
		}
		codec := CodecNone
		if zstd {
			codec = CodecZstd
		}
		enc, err := EncodeChunk(nil, raw, codec)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := DecodeChunk(enc, want); err != nil || !bytes.Equal(back, raw) {
			t.Fatalf("round trip: %v", err)
		}
		if d, err := ParseChunkKey(ChunkKey(want)); err != nil || d != want {
			t.Fatalf("chunk key: %v", err)
		}
	})
}

// recordSeeds returns a valid record of every kind.
func recordSeeds(f testing.TB) [][]byte {
	tl, err1 := EncodeTimeline(Timeline{ID: 2, Parent: 1, ForkIndex: 10, StartIndex: 11, Reason: "truncate back", Time: time.Unix(1700000000, 5).UTC()})
	pt, err2 := EncodePoint(Point{Name: "before-x", Timeline: 2, Index: 12, Time: time.Unix(1700000000, 0).UTC(), Created: time.Unix(1700000001, 0).UTC(), Pinned: true})
	sn, err3 := EncodeSnapshot(fuzzManifest())
	if err := errors.Join(err1, err2, err3); err != nil {
		f.Fatal(err)
	}
	return [][]byte{tl, pt, sn}
}

func fuzzManifest() SnapshotManifest {
	return SnapshotManifest{ID: "0123456789abcdef", Timeline: 1, Index: 40, Time: time.Unix(1700000000, 0).UTC(),
		Source: SnapshotSource{Method: MethodFreeze}, ChunkSize: 4, TotalSize: 5, RootMode: 0o700,
		Files: []SnapshotFile{
			{Path: "d", Type: TypeDir, Mode: 0o755},
			{Path: "d/f", Type: TypeFile, Mode: 0o644, Size: 5, SHA256: DigestOf([]byte("hello")),
				Chunks: []Digest{DigestOf([]byte("hell")), DigestOf([]byte("o"))}},
			{Path: "l", Type: TypeSymlink, Target: "d/f"},
		}}
}

// decodeRecord tries every record decoder on b and, for the one that
// accepts it, checks that encoding the result gives a record that decodes
// to the same value and the same bytes again.
func decodeRecord(t *testing.T, b []byte) {
	type codec struct {
		name   string
		decode func([]byte) (any, error)
		encode func(any) ([]byte, error)
	}
	for _, c := range []codec{
		{"timeline", func(b []byte) (any, error) { return DecodeTimeline(b) }, func(v any) ([]byte, error) { return EncodeTimeline(v.(Timeline)) }},
		{"point", func(b []byte) (any, error) { return DecodePoint(b) }, func(v any) ([]byte, error) { return EncodePoint(v.(Point)) }},
		{"snapshot", func(b []byte) (any, error) { return DecodeSnapshot(b) }, func(v any) ([]byte, error) { return EncodeSnapshot(v.(SnapshotManifest)) }},
	} {
		v, err := c.decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("%s: error %v is neither ErrCorrupt nor ErrUnknownVersion", c.name, err)
			}
			continue
		}
		enc, err := c.encode(v)
		if err != nil {
			t.Fatalf("%s: a decoded record does not encode: %v (%+v)", c.name, err, v)
		}
		v2, err := c.decode(enc)
		if err != nil {
			t.Fatalf("%s: a re-encoded record does not decode: %v", c.name, err)
		}
		enc2, err := c.encode(v2)
		if err != nil || !bytes.Equal(enc, enc2) || !reflect.DeepEqual(normal(v), normal(v2)) {
			t.Fatalf("%s: not stable: %s\n%s", c.name, enc, enc2)
		}
	}
}

// normal makes decoded values comparable: times by instant and zone offset.
func normal(v any) any {
	fix := func(t time.Time) time.Time {
		_, off := t.Zone()
		return t.In(time.FixedZone("", off))
	}
	switch x := v.(type) {
	case Timeline:
		x.Time = fix(x.Time)
		return x
	case Point:
		x.Time, x.Created = fix(x.Time), fix(x.Created)
		return x
	case SnapshotManifest:
		x.Time = fix(x.Time)
		return x
	}
	return v
}

// FuzzRecordEnvelope: whole records from outside, any of the three kinds.
func FuzzRecordEnvelope(f *testing.F) {
	for _, b := range recordSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"format":"walship.timeline","version":1,"body":{},"sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}`))
	f.Fuzz(func(t *testing.T, b []byte) { decodeRecord(t, b) })
}

// FuzzRecordBody: record bodies behind a valid envelope (the fuzzer cannot
// forge a SHA-256, so the envelope is sealed here around its body).
func FuzzRecordBody(f *testing.F) {
	for _, b := range recordSeeds(f) {
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil {
			f.Fatal(err)
		}
		f.Add(2, env.Format, []byte(env.Body))
	}
	f.Add(1, timelineFormat, []byte(`{"timeline":1,"start_index":1,"time":"2026-01-02T03:04:05+01:00"}`))
	f.Fuzz(func(t *testing.T, version int, format string, body []byte) {
		decodeRecord(t, sealRaw(format, version%4, body))
	})
}

// FuzzKeys: every key parser accepts only what its formatter prints, so a
// parsed key prints back to the very key.
func FuzzKeys(f *testing.F) {
	for _, k := range []string{
		SegmentName{Timeline: 0x1a, First: 1, Last: 4096, MaxTime: 1_700_000_000_123_456_789}.Key(),
		SegmentName{Timeline: 0x1a, First: 1, Last: 4096, MaxTime: 5, Gen: 12}.Key(),
		"segments/0000001a/00000000000000000001-00000000000000004096-00000000000000000005.g012.wseg",
		"segments/0000001A/00000000000000000001-00000000000000004096-01700000000123456789.wseg",
		TimelineKey(77), "timelines/0000004D.json",
		SnapshotName{Timeline: 3, Index: 9, ID: "00ff00ff00ff00ff"}.Key(),
		ChunkKey(DigestOf([]byte("x"))), PointKey("before-x"), "points/a..b.json",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if n, err := ParseSegmentKey(key); err == nil && n.Key() != key {
			t.Fatalf("segment key %q parses to %+v, which prints %q", key, n, n.Key())
		}
		if tl, err := ParseTimelineKey(key); err == nil && (TimelineKey(tl) != key || tl == 0) {
			t.Fatalf("timeline key %q parses to %d", key, tl)
		}
		if n, err := ParseSnapshotKey(key); err == nil && (n.Key() != key || ValidSnapshotID(n.ID) != nil) {
			t.Fatalf("snapshot key %q parses to %+v", key, n)
		}
		if d, err := ParseChunkKey(key); err == nil && ChunkKey(d) != key {
			t.Fatalf("chunk key %q parses to %s", key, d)
		}
		if name, err := ParsePointKey(key); err == nil && (PointKey(name) != key || ValidPointName(name) != nil) {
			t.Fatalf("point key %q parses to %q", key, name)
		}
		if d, err := ParseDigest(key); err == nil && d.String() != key {
			t.Fatalf("digest %q parses to %s", key, d)
		}
		if ValidPointName(key) == nil {
			if name, err := ParsePointKey(PointKey(key)); err != nil || name != key {
				t.Fatalf("point %q: key does not parse back: %q, %v", key, name, err)
			}
		}
		if c, err := ParseCodec(key); err == nil {
			if c2, err := ParseCodec(c.String()); err != nil || c2 != c {
				t.Fatalf("codec %q: %v prints %q", key, c, c.String())
			}
		}
	})
}

// FuzzKeyRoundTrip: every valid name prints to a key that parses back to
// it, and invalid ones print nothing that parses.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add(uint32(1), uint64(1), uint64(1), int64(0), "0123456789abcdef")
	f.Add(uint32(1<<32-1), uint64(1<<64-1), uint64(1<<64-1), int64(-1), "ffffffffffffffff")
	f.Fuzz(func(t *testing.T, tl uint32, first, last uint64, maxTime int64, id string) {
		n := SegmentName{Timeline: tl, First: first, Last: last, MaxTime: maxTime, Gen: uint32(first >> 32)}
		// The key's layout, as the package doc draws it.
		gen := ""
		if n.Gen > 0 {
			gen = fmt.Sprintf(".g%d", n.Gen)
		}
		want := fmt.Sprintf("segments/%08x/%020d-%020d-%020d%s.wseg", tl, first, last, max(maxTime, 0), gen)
		if k := n.Key(); k != want || len(k) > maxSegmentKey {
			t.Fatalf("%+v: key %q, want %q (at most %d bytes)", n, k, want, maxSegmentKey)
		}
		if fp := n.FamilyPrefix(); !strings.HasPrefix(n.Key(), fp) || !strings.HasPrefix(n.Family().Key(), fp) || !strings.HasSuffix(fp, fmt.Sprintf("%020d.", max(maxTime, 0))) {
			t.Fatalf("%+v: family prefix %q does not prefix %q and %q", n, n.FamilyPrefix(), n.Key(), n.Family().Key())
		}
		got, err := ParseSegmentKey(n.Key())
		valid := tl != 0 && first != 0 && last >= first
		if valid != (err == nil) {
			t.Fatalf("%+v: valid %v, parse error %v", n, valid, err)
		}
		if n.MaxTime = max(n.MaxTime, 0); valid && got != n {
			t.Fatalf("%+v parses back as %+v", n, got)
		}
		if got, err := ParseTimelineKey(TimelineKey(tl)); (err == nil) != (tl != 0) || (err == nil && got != tl) {
			t.Fatalf("timeline %d: %d, %v", tl, got, err)
		}
		s := SnapshotName{Timeline: tl, Index: first, ID: id}
		sgot, err := ParseSnapshotKey(s.Key())
		if svalid := tl != 0 && ValidSnapshotID(id) == nil; svalid != (err == nil) || (svalid && sgot != s) {
			t.Fatalf("%+v: parsed %+v, %v", s, sgot, err)
		}
		var d Digest
		binary.BigEndian.PutUint64(d[:], first)
		binary.BigEndian.PutUint64(d[24:], last)
		if dgot, err := ParseChunkKey(ChunkKey(d)); err != nil || dgot != d {
			t.Fatalf("chunk %s: %s, %v", d, dgot, err)
		}
	})
}

// sealRaw wraps body, as is, in a record envelope with a matching SHA-256.
func sealRaw(format string, version int, body []byte) []byte {
	sum := sha256.Sum256(body)
	b := []byte(`{"format":`)
	b = strconv.AppendQuote(b, format)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, `,"body":`...)
	b = append(b, body...)
	b = append(b, `,"sha256":"`...)
	b = append(b, hex.EncodeToString(sum[:])...)
	return append(b, `"}`...)
}

// TestRecordSeedsDecode: the record seeds decode (so FuzzRecord* reach the
// round trip), each with exactly one decoder.
func TestRecordSeedsDecode(t *testing.T) {
	for i, b := range recordSeeds(t) {
		ok := 0
		_, err1 := DecodeTimeline(b)
		_, err2 := DecodePoint(b)
		_, err3 := DecodeSnapshot(b)
		for _, err := range []error{err1, err2, err3} {
			if err == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("seed %d decodes with %d decoders: %v, %v, %v", i, ok, err1, err2, err3)
		}
		decodeRecord(t, b)
	}
}
