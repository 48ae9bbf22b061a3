package pitr

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// corruptions damage one stored segment in different ways; each returns the
// key that is now bad.
var corruptions = map[string]func(t *testing.T, f *fixture, key string) string{
	"payload byte": func(t *testing.T, f *fixture, key string) string {
		flip(t, f.st, key, segments.HeaderSizeV1+5)
		return key
	},
	"header byte": func(t *testing.T, f *fixture, key string) string {
		flip(t, f.st, key, 30)
		return key
	},
	"last byte": func(t *testing.T, f *fixture, key string) string {
		info, err := f.st.Stat(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		flip(t, f.st, key, int(info.Size-1))
		return key
	},
	// A sound segment filed under a key that disagrees with its header.
	"wrong key": func(t *testing.T, f *fixture, key string) string {
		b := read(t, f.st, key)
		if err := f.st.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		n, _ := segments.ParseSegmentKey(key)
		n.MaxTime++
		put(t, f.st, n.Key(), b)
		return n.Key()
	},
}

func flip(t *testing.T, st backends.Store, key string, off int) {
	t.Helper()
	switch s := st.(type) {
	case *mem.Store:
		if err := s.Corrupt(key, off); err != nil {
			t.Fatal(err)
		}
	case *file.Store:
		p := filepath.Join(s.Root(), filepath.FromSlash(key))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[off] ^= 0x01
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("cannot corrupt %T", st)
	}
}

func read(t *testing.T, st backends.Store, key string) []byte {
	t.Helper()
	b, err := readSmall(context.Background(), st, key, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bothDecodePaths runs f with segments decoded ahead (small ones by the
// download workers at once, larger ones by a goroutine each) and with
// every segment decoded by the writer from its copy, and with fetched
// copies in memory and in temporary files.
func bothDecodePaths(t *testing.T, f func(t *testing.T)) {
	t.Run("decode-ahead", f)
	t.Run("decode-ahead-small-files", func(t *testing.T) { // a decoder goroutine per segment, waiting for the writer
		defer func(v, m int64, i uint64) { decodeAheadBytes, memFetchMax, inlineDecodeMax = v, m, i }(decodeAheadBytes, memFetchMax, inlineDecodeMax)
		decodeAheadBytes, memFetchMax, inlineDecodeMax = 512, 0, 0
		f(t)
	})
	t.Run("decode-in-writer", func(t *testing.T) {
		defer func(v int64) { decodeAheadBytes = v }(decodeAheadBytes)
		decodeAheadBytes = 0
		f(t)
	})
	t.Run("decode-in-writer-files", func(t *testing.T) {
		defer func(v, m int64) { decodeAheadBytes, memFetchMax = v, m }(decodeAheadBytes, memFetchMax)
		decodeAheadBytes, memFetchMax = 0, 0
		f(t)
	})
}

func TestCorruptSegment(t *testing.T) { bothDecodePaths(t, testCorruptSegment) }

func testCorruptSegment(t *testing.T) {
	ctx := context.Background()
	for sname, mk := range stores(t) {
		for cname, corrupt := range corruptions {
			t.Run(sname+"/"+cname, func(t *testing.T) {
				f := newFixture(t, mk(t), wal.FormatBinary, 20)
				f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 120)
				p, err := MakePlan(ctx, f.st, Target{})
				if err != nil {
					t.Fatal(err)
				}
				// Damage the second segment after planning, so Execute meets it.
				bad := corrupt(t, f, f.keys[1][1])
				if cname == "wrong key" {
					// The plan names the old key, now gone; plan again to meet
					// the misfiled object.
					p, err = MakePlan(ctx, f.st, Target{})
					if err != nil {
						t.Fatal(err)
					}
				}
				out := filepath.Join(t.TempDir(), "out")
				_, err = Execute(ctx, f.st, p, out, Options{Parallel: 2})
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), bad) {
					t.Fatalf("Execute: %v; want a corruption error naming %s", err, bad)
				}
				noWAL(t, out)

				r, err := Verify(ctx, f.st)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Damaged) != 1 || r.Damaged[0].Key != bad || r.OK() {
					t.Fatalf("Verify damage %+v, want %s", r.Damaged, bad)
				}
				if r.Segments != len(f.keys[1]) || r.Timelines != 1 {
					t.Fatalf("report %+v", r)
				}
			})
		}
	}
}

// Corruption in the segment a time target reads is found while planning.
func TestCorruptSegmentTimePlan(t *testing.T) {
	f := newFixture(t, newMem(), wal.FormatBinary, 21)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 120)
	key := f.keys[1][1]
	flip(t, f.st, key, segments.HeaderSizeV1+3)
	name, _ := segments.ParseSegmentKey(key)
	_, err := MakePlan(context.Background(), f.st, Target{Time: timeOf(name.MaxTime - 1)})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), key) {
		t.Fatalf("got %v", err)
	}
}

func TestHostileKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 22)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 50)
	hostile := []string{
		"segments/00000001/../../x",
		"segments/00000001/../../../etc/passwd",
		"segments/00000001/foreign.wseg",
		"segments/00000001/00000000000000000001-00000000000000000002-00000000000000000000.wseg.bak",
		"segments/zzz",
		"timelines/../../etc.json",
		"timelines/00000001.json.tmp",
		"timelines/0000000A.json",
	}
	hs := &hookStore{Store: f.st}
	for _, k := range hostile {
		hs.extra = append(hs.extra, backends.ObjectInfo{Key: k, Size: 10})
	}
	hs.onGet = func(key string) error {
		for _, k := range hostile {
			if key == k {
				t.Errorf("hostile key %q was read", key)
			}
		}
		return nil
	}
	p, _, got, err := restoreAndRead(t, hs, Target{}, wal.FormatBinary, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, got, f.own[1])
	notes := strings.Join(p.Notes, "\n")
	if !strings.Contains(notes, "ignored 4 object(s) under segments/00000001/") || !strings.Contains(notes, "under timelines/") {
		t.Fatalf("notes %q", p.Notes)
	}
	r, err := Verify(ctx, hs)
	if err != nil {
		t.Fatal(err)
	}
	var damaged []string
	for _, d := range r.Damaged {
		damaged = append(damaged, d.Key)
	}
	if len(damaged) != len(hostile) {
		t.Fatalf("Verify damage %q, want every hostile key", damaged)
	}
	for _, k := range hostile {
		if !strings.Contains(strings.Join(damaged, "\n"), k) {
			t.Errorf("Verify did not report %q", k)
		}
	}
}

// Foreign files in a file store's directories are not walship objects.
func TestForeignFilesInFileStore(t *testing.T) {
	ctx := context.Background()
	st, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, wal.FormatJSON, 23)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 7}, 40)
	for _, rel := range []string{"segments/00000001/notes.txt", "timelines/README", "segments/00000002/x.wseg"} {
		p := filepath.Join(st.Root(), rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not walship"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, _, got, err := restoreAndRead(t, st, Target{}, wal.FormatJSON, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, got, f.own[1])
	r, err := Verify(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Damaged) != 3 {
		t.Fatalf("damage %+v", r.Damaged)
	}
}

func TestOutDir(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 24)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 60)
	p, err := MakePlan(ctx, f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(ctx, f.st, p, out, Options{}); !errors.Is(err, ErrOutDirNotEmpty) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("non-empty out dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "wal")); !os.IsNotExist(err) {
		t.Fatal("refused restore wrote wal/")
	}

	// Force with an existing wal/: a failing restore leaves it untouched.
	old := filepath.Join(out, "wal")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "00000000000000000001"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	markEarlierRestore(t, out) // --force replaces only an earlier restore's output
	bad := *p
	list := p.Segments.Slice()
	list[len(list)-1].Size++ // the listing no longer matches
	bad.Segments = plannedOf(list)
	if _, err := Execute(ctx, f.st, &bad, out, Options{Force: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("size mismatch: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(old, "00000000000000000001")); err != nil || string(b) != "old" {
		t.Fatalf("failed forced restore touched the old wal: %q %v", b, err)
	}
	assertNames(t, out, "keep", "wal")

	// A successful forced restore replaces it.
	res, err := Execute(ctx, f.st, p, out, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, DefaultSegmentSize), f.own[1])
	assertNames(t, out, "keep", "wal")

	// WALDir elsewhere; WALDir = OUT_DIR refused.
	out2 := filepath.Join(t.TempDir(), "o")
	wd := filepath.Join(t.TempDir(), "elsewhere", "log")
	res, err = Execute(ctx, f.st, p, out2, Options{WALDir: wd})
	if err != nil || res.WALDir != wd {
		t.Fatalf("WALDir: %v %+v", err, res)
	}
	sameEntries(t, readLog(t, wd, wal.FormatBinary, DefaultSegmentSize), f.own[1])
	if _, err := Execute(ctx, f.st, p, out2, Options{WALDir: out2, Force: true}); err == nil {
		t.Fatal("WALDir = OUT_DIR accepted")
	}
	if _, err := Execute(ctx, f.st, p, t.TempDir(), Options{WALDir: wd}); !errors.Is(err, ErrOutDirNotEmpty) {
		t.Fatalf("non-empty WALDir: %v", err)
	}
}

func assertNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, de := range des {
		if de.Name() != MarkerName { // checked by restore_install_test.go
			got = append(got, de.Name())
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, want)
	}
}

func TestOverlappingSegments(t *testing.T) { bothDecodePaths(t, testOverlappingSegments) }

func testOverlappingSegments(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 25)
	rec := segments.Timeline{ID: 1, StartIndex: 1}
	putTimeline(t, f.st, rec)
	f.recs[1] = rec
	es := f.entries(1, 200)
	f.own[1] = es
	// 1..100, 50..150 (overlaps), 120..130 (inside), 140..200.
	for _, r := range [][2]int{{1, 100}, {50, 150}, {120, 130}, {140, 200}} {
		putSegment(t, f.st, 1, f.format, segments.CodecZstd, es[r[0]-1:r[1]])
	}
	p, _, got, err := restoreAndRead(t, f.st, Target{}, wal.FormatBinary, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, got, es)
	if p.Segments.Len() != 3 || p.Segments.At(1).From != 101 || p.Segments.At(2).From != 151 {
		t.Fatalf("plan %+v", p.Segments)
	}

	// Overlapping copies that disagree are corruption.
	f2 := newFixture(t, newMem(), wal.FormatBinary, 26)
	putTimeline(t, f2.st, rec)
	es2 := f2.entries(1, 100)
	putSegment(t, f2.st, 1, f2.format, segments.CodecNone, es2[:60])
	other := append([]segments.Entry(nil), es2[40:]...)
	other[5] = segments.Entry{Index: other[5].Index, Time: other[5].Time, Data: []byte("different")}
	k := putSegment(t, f2.st, 1, f2.format, segments.CodecNone, other)
	_, _, err = Restore(ctx, f2.st, Target{}, filepath.Join(t.TempDir(), "o"), Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), "entry 46 differs") {
		t.Fatalf("got %v", err)
	}
}

// Downloads are bounded: at most Parallel at once, and the window holds at
// most Parallel+1 segments over smallStored fetched (or fetching) but not
// yet written, or 16 times as many small ones. The first segment's
// download is held until the window is full, so it fills.
func TestFetchWindow(t *testing.T) {
	const par = 2
	cases := []struct {
		name     string
		segs     int
		entries  int // per segment
		size     int // of each entry's data
		inFlight int // segments the window holds
	}{
		{"large", 12, 1, smallStored + 1024, par + 1},
		{"small", 120, 4, 100, windowSlots * (par + 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st := newMem()
			putTimeline(t, st, segments.Timeline{ID: 1, StartIndex: 1})
			rng := rand.New(rand.NewSource(int64(c.segs)))
			var want []segments.Entry
			for i := range c.segs {
				var es []segments.Entry
				for k := range c.entries {
					data := make([]byte, c.size)
					rng.Read(data)
					es = append(es, segments.Entry{Index: uint64(i*c.entries + k + 1), Time: baseTime + int64(i), Data: data})
				}
				putSegment(t, st, 1, wal.FormatBinary, segments.CodecNone, es)
				want = append(want, es...)
			}
			p, err := MakePlan(ctx, st, Target{})
			if err != nil {
				t.Fatal(err)
			}
			if w := windowWeight(p.Segments.At(0)); w*c.inFlight != windowSlots*(par+1) {
				t.Fatalf("a segment of %d bytes weighs %d", p.Segments.At(0).Size, w)
			}
			cs := &countingStore{Store: st, first: p.Segments.At(0).Key(), release: make(chan struct{}), fill: c.inFlight}
			var mu sync.Mutex
			maxBuffered := 0
			o := Options{Parallel: par, observe: func(n int) {
				mu.Lock()
				maxBuffered = max(maxBuffered, n)
				mu.Unlock()
			}}
			res, err := Execute(ctx, cs, p, filepath.Join(t.TempDir(), "o"), o)
			if err != nil {
				t.Fatal(err)
			}
			sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, DefaultSegmentSize), want)
			if maxBuffered != windowSlots*(par+1) {
				t.Fatalf("at most %d sixteenths of segments buffered, want %d", maxBuffered, windowSlots*(par+1))
			}
			if cs.maxOpen > par || cs.started != p.Segments.Len() {
				t.Fatalf("%d downloads at once (limit %d); %d Gets for %d segments", cs.maxOpen, par, cs.started, p.Segments.Len())
			}
		})
	}
}

// A small segment (stored in at most smallStored bytes) whose entries are
// more than inlineDecodeMax bytes takes a sixteenth of the window and is
// left to the writer to decode (fetchOne), not decoded ahead: the restore
// of such segments is exact.
func TestSmallSegmentLargeEntries(t *testing.T) {
	ctx := context.Background()
	st := newMem()
	putTimeline(t, st, segments.Timeline{ID: 1, StartIndex: 1})
	var want []segments.Entry
	for i := range 6 {
		var es []segments.Entry
		for k := range 5 {
			data := bytes.Repeat([]byte{byte(i), byte(k)}, 40<<10) // 80 KiB that zstd stores in a few hundred bytes
			es = append(es, segments.Entry{Index: uint64(i*5 + k + 1), Time: baseTime + int64(i), Data: data})
		}
		putSegment(t, st, 1, wal.FormatBinary, segments.CodecZstd, es)
		want = append(want, es...)
	}
	p, err := MakePlan(ctx, st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := p.Segments.At(0); windowWeight(ps) != 1 {
		t.Fatalf("segment of %d bytes weighs %d", ps.Size, windowWeight(ps))
	}
	res, err := Execute(ctx, st, p, filepath.Join(t.TempDir(), "o"), Options{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, DefaultSegmentSize), want)
}

type countingStore struct {
	backends.Store
	first   string
	release chan struct{}
	fill    int // downloads started before the first one may go on

	mu                     sync.Mutex
	started, open, maxOpen int
}

func (c *countingStore) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.started++
	c.open++
	c.maxOpen = max(c.maxOpen, c.open)
	if c.started == c.fill {
		close(c.release)
	}
	c.mu.Unlock()
	if key == c.first {
		select {
		case <-c.release:
		case <-time.After(10 * time.Second): // the window never filled: the test fails on its figures
		}
	}
	rc, err := c.Store.Get(ctx, key, offset, length)
	if err != nil {
		c.closed()
		return nil, err
	}
	return &hookCloser{ReadCloser: rc, onClose: c.closed}, nil
}

func (c *countingStore) closed() {
	c.mu.Lock()
	c.open--
	c.mu.Unlock()
}

type hookCloser struct {
	io.ReadCloser
	onClose func()
	once    sync.Once
}

func (h *hookCloser) Close() error {
	h.once.Do(h.onClose)
	return h.ReadCloser.Close()
}

func TestCancel(t *testing.T) {
	f := newFixture(t, newMem(), wal.FormatBinary, 28)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
	p, err := MakePlan(context.Background(), f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var mu sync.Mutex
	hs := &hookStore{Store: f.st, onGet: func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 4 {
			cancel()
		}
		return nil
	}}
	out := filepath.Join(t.TempDir(), "o")
	if _, err := Execute(ctx, hs, p, out, Options{Parallel: 2}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	noWAL(t, out)
}

func TestLogRolling(t *testing.T) {
	for _, format := range formats {
		f := newFixture(t, newMem(), format, 29)
		f.big = 64 << 10
		f.timeline(t, segments.Timeline{ID: 1, StartIndex: 5}, 250)
		_, res, got, err := restoreAndRead(t, f.st, Target{}, format, Options{SegmentSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		sameEntries(t, got, f.own[1])
		if res.Files < 10 {
			t.Fatalf("%s: %d files", format, res.Files)
		}
	}
}

// The JSON encoding is tidwall/wal v1.2.1's appendJSONEntry, byte for byte.
func TestAppendEntry(t *testing.T) {
	cases := []struct {
		format wal.Format
		index  uint64
		data   string
		want   string
	}{
		{wal.FormatJSON, 5, "hello", `{"index":"5","data":"+hello"}` + "\n"},
		{wal.FormatJSON, 12, "", `{"index":"12","data":"+"}` + "\n"},
		{wal.FormatJSON, 1, `<a href="x">&</a>`, `{"index":"1","data":"+\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e"}` + "\n"},
		{wal.FormatJSON, 2, "line\nnext\t\u2028é", `{"index":"2","data":"+line\nnext\t\u2028é"}` + "\n"},
		{wal.FormatJSON, 3, "\xff\xfe", `{"index":"3","data":"$__4="}` + "\n"},
		{wal.FormatBinary, 9, "abc", "\x03"},
	}
	for _, c := range cases {
		if got := string(appendEntry(nil, c.format, c.index, []byte(c.data))); got != c.want {
			t.Errorf("%s entry %q = %q, want %q", c.format, c.data, got, c.want)
		}
	}
}
