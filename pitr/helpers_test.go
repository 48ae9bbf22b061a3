package pitr

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// baseTime is the first entry's time in every fixture.
var baseTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()

// memSink is an in-memory segments.Sink.
type memSink struct{ b []byte }

func (m *memSink) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }
func (m *memSink) WriteAt(p []byte, off int64) (int, error) {
	copy(m.b[off:], p)
	return len(p), nil
}

// encodeSegment seals entries into segment bytes.
func encodeSegment(t testing.TB, tl uint32, format wal.Format, codec segments.Codec, es []segments.Entry) ([]byte, segments.Header) {
	t.Helper()
	var s memSink
	w, err := segments.NewWriter(&s, tl, uint8(format), codec)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	h, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return s.b, h
}

func put(t testing.TB, st backends.Store, key string, b []byte) {
	t.Helper()
	if err := st.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// putSegment stores entries as one segment under its proper key.
func putSegment(t testing.TB, st backends.Store, tl uint32, format wal.Format, codec segments.Codec, es []segments.Entry) string {
	t.Helper()
	b, h := encodeSegment(t, tl, format, codec, es)
	key := segments.NameOf(h).Key()
	put(t, st, key, b)
	return key
}

func putTimeline(t testing.TB, st backends.Store, rec segments.Timeline) {
	t.Helper()
	b, err := segments.EncodeTimeline(rec)
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, segments.TimelineKey(rec.ID), b)
}

// fixture is a store built from a known source history, and the model of
// what each restore must give.
type fixture struct {
	st     backends.Store
	format wal.Format
	rng    *rand.Rand
	recs   map[uint32]segments.Timeline
	own    map[uint32][]segments.Entry // each timeline's own entries, from StartIndex
	keys   map[uint32][]string         // segment keys per timeline, in order
	now    int64                       // time of the next generated entry
	big    int                         // size of the rare largest entries
}

func newFixture(t testing.TB, st backends.Store, format wal.Format, seed int64) *fixture {
	return &fixture{st: st, format: format, rng: rand.New(rand.NewSource(seed)),
		recs: map[uint32]segments.Timeline{}, own: map[uint32][]segments.Entry{}, keys: map[uint32][]string{}, now: baseTime, big: 1 << 20}
}

// stores returns the stores tests run against.
func stores(t *testing.T) map[string]func(t *testing.T) backends.Store {
	return map[string]func(t *testing.T) backends.Store{
		"mem": func(t *testing.T) backends.Store { return mem.New() },
		"file": func(t *testing.T) backends.Store {
			s, err := file.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// data returns an entry payload: sizes from 0 to 1 MiB, mostly small; for
// the JSON format, text with characters JSON escapes or invalid UTF-8.
func (f *fixture) data(i int) []byte {
	size := f.rng.Intn(200)
	switch {
	case i%23 == 0:
		size = 0
	case i%97 == 5:
		size = f.big
	case i%31 == 7:
		size = 16<<10 + f.rng.Intn(64<<10)
	}
	if f.format == wal.FormatJSON && i%3 != 0 {
		const alphabet = "abc XYZ 019 <>&\"\\/\n\t\u0001\u007f é ü 漢字 😀 \u2028\u2029"
		runes := []rune(alphabet)
		var b []byte
		for len(b) < min(size, 4096) {
			b = append(b, string(runes[f.rng.Intn(len(runes))])...)
		}
		for len(b) < size {
			b = append(b, b[:min(len(b), size-len(b))]...)
		}
		return b
	}
	b := make([]byte, size)
	f.rng.Read(b)
	return b
}

// entries makes n new entries from index first. Times mostly grow, but not
// always: every 7th entry is older than the one before.
func (f *fixture) entries(first uint64, n int) []segments.Entry {
	es := make([]segments.Entry, n)
	for i := range es {
		f.now += int64(time.Millisecond)
		tm := f.now
		if i%7 == 6 {
			tm -= int64(3 * time.Millisecond)
		}
		es[i] = segments.Entry{Index: first + uint64(i), Time: tm, Data: f.data(int(first) + i)}
	}
	return es
}

// timeline records rec and gives it n own entries, shipped in segments of
// random length.
func (f *fixture) timeline(t testing.TB, rec segments.Timeline, n int) {
	t.Helper()
	putTimeline(t, f.st, rec)
	f.recs[rec.ID] = rec
	es := f.entries(rec.StartIndex, n)
	f.own[rec.ID] = es
	f.ship(t, rec.ID, es)
}

// ship stores es as segments of 1..40 entries, alternating codecs.
func (f *fixture) ship(t testing.TB, tl uint32, es []segments.Entry) {
	t.Helper()
	for len(es) > 0 {
		n := min(1+f.rng.Intn(40), len(es))
		codec := segments.CodecNone
		if f.rng.Intn(2) == 0 {
			codec = segments.CodecZstd
		}
		f.keys[tl] = append(f.keys[tl], putSegment(t, f.st, tl, f.format, codec, es[:n]))
		es = es[n:]
	}
}

// lineage is every entry along tl's history in index order, up to upTo,
// crossing gaps (what a time target scans).
func (f *fixture) lineage(tl uint32, upTo uint64) []segments.Entry {
	rec := f.recs[tl]
	var out []segments.Entry
	if rec.Parent != 0 && rec.ForkIndex > 0 {
		out = f.lineage(rec.Parent, min(rec.ForkIndex, upTo))
	}
	for _, e := range f.own[tl] {
		if e.Index <= upTo {
			out = append(out, e)
		}
	}
	return out
}

// expect is the restored log for index n on tl per the source history, or
// false where the store cannot hold it.
func (f *fixture) expect(tl uint32, n uint64) ([]segments.Entry, bool) {
	rec := f.recs[tl]
	if n >= rec.StartIndex {
		own := f.own[tl]
		if len(own) == 0 || own[len(own)-1].Index < n {
			return nil, false
		}
		var out []segments.Entry
		if rec.Parent != 0 && !rec.HasGap() && rec.ForkIndex > 0 {
			base, ok := f.expect(rec.Parent, rec.ForkIndex)
			if !ok {
				return nil, false
			}
			out = base
		}
		for _, e := range own {
			if e.Index <= n {
				out = append(out, e)
			}
		}
		return out, true
	}
	if rec.Parent == 0 || n > rec.ForkIndex {
		return nil, false
	}
	return f.expect(rec.Parent, n)
}

// latest is tl's newest entry index.
func (f *fixture) latest(tl uint32) uint64 {
	if own := f.own[tl]; len(own) > 0 {
		return own[len(own)-1].Index
	}
	return f.recs[tl].ForkIndex
}

// expectTime is the restored log for a time target, or false for an error.
func (f *fixture) expectTime(tl uint32, at int64) ([]segments.Entry, bool) {
	lin := f.lineage(tl, f.latest(tl))
	for k, e := range lin {
		if e.Time > at {
			if k == 0 {
				return nil, false
			}
			return f.expect(tl, e.Index-1)
		}
	}
	return f.expect(tl, f.latest(tl))
}

// readLog reads a restored tidwall/wal directory independently of the
// writer: it checks file names and the roll rule, and returns the entries.
func readLog(t testing.TB, dir string, format wal.Format, segSize int64) []segments.Entry {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	var out []segments.Entry
	for fi, name := range names {
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || len(name) != 20 || fmt.Sprintf("%020d", first) != name {
			t.Fatalf("unexpected file %q in restored log", name)
		}
		if len(out) > 0 && out[len(out)-1].Index+1 != first {
			t.Fatalf("file %s does not follow entry %d", name, out[len(out)-1].Index)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(b))
		var lastLen int64
		for idx := first; len(b) > 0; idx++ {
			var data []byte
			var n int
			if format == wal.FormatBinary {
				l, m := binary.Uvarint(b)
				if m <= 0 || uint64(len(b)-m) < l {
					t.Fatalf("%s: bad binary entry %d", name, idx)
				}
				data, n = b[m:m+int(l)], m+int(l)
			} else {
				nl := bytes.IndexByte(b, '\n')
				if nl < 0 {
					t.Fatalf("%s: JSON entry %d has no newline", name, idx)
				}
				var line struct {
					Index string `json:"index"`
					Data  string `json:"data"`
				}
				if err := json.Unmarshal(b[:nl], &line); err != nil {
					t.Fatalf("%s: JSON entry %d: %v", name, idx, err)
				}
				if line.Index != strconv.FormatUint(idx, 10) {
					t.Fatalf("%s: JSON entry %d says index %s", name, idx, line.Index)
				}
				switch {
				case len(line.Data) > 0 && line.Data[0] == '+':
					data = []byte(line.Data[1:])
				case len(line.Data) > 0 && line.Data[0] == '$':
					data, err = base64.URLEncoding.DecodeString(line.Data[1:])
					if err != nil {
						t.Fatalf("%s: entry %d: %v", name, idx, err)
					}
				default:
					t.Fatalf("%s: entry %d: data %q", name, idx, line.Data)
				}
				n = nl + 1
			}
			out = append(out, segments.Entry{Index: idx, Data: bytes.Clone(data)})
			lastLen = int64(n)
			b = b[n:]
		}
		// tidwall closes a file at the entry that brings it to segSize.
		if fi < len(names)-1 && (size < segSize || size-lastLen >= segSize) {
			t.Fatalf("file %s is %d bytes (last entry %d): not rolled at %d like tidwall", name, size, lastLen, segSize)
		}
		if fi == len(names)-1 && size-lastLen >= segSize {
			t.Fatalf("last file %s should have been rolled", name)
		}
	}
	return out
}

// sameEntries compares indexes and data (times are not in a tidwall log).
func sameEntries(t testing.TB, got, want []segments.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("restored %d entries (%s), want %d (%s)", len(got), span(got), len(want), span(want))
	}
	for i := range want {
		if got[i].Index != want[i].Index || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("entry %d: got index %d (%d bytes), want index %d (%d bytes)", i, got[i].Index, len(got[i].Data), want[i].Index, len(want[i].Data))
		}
	}
}

func span(es []segments.Entry) string {
	if len(es) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d", es[0].Index, es[len(es)-1].Index)
}

// noWAL fails if a restore left a WAL directory or temporary files behind.
func noWAL(t testing.TB, out string) {
	t.Helper()
	des, err := os.ReadDir(out)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		t.Errorf("failed restore left %s in %s", de.Name(), out)
	}
}

// hookStore wraps a store: extra keys appear in listings, Gets can be
// observed or held.
type hookStore struct {
	backends.Store
	mu    sync.Mutex
	extra []backends.ObjectInfo
	onGet func(key string) error
}

func (h *hookStore) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	var all []backends.ObjectInfo
	if err := h.Store.List(ctx, prefix, after, func(oi backends.ObjectInfo) error {
		all = append(all, oi)
		return nil
	}); err != nil {
		return err
	}
	h.mu.Lock()
	for _, oi := range h.extra {
		if len(oi.Key) >= len(prefix) && oi.Key[:len(prefix)] == prefix && oi.Key > after {
			all = append(all, oi)
		}
	}
	h.mu.Unlock()
	slices.SortFunc(all, func(a, b backends.ObjectInfo) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	for _, oi := range all {
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}

func (h *hookStore) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if h.onGet != nil {
		if err := h.onGet(key); err != nil {
			return nil, err
		}
	}
	return h.Store.Get(ctx, key, offset, length)
}

func newMem() backends.Store { return mem.New() }

func timeOf(ns int64) time.Time { return time.Unix(0, ns) }
