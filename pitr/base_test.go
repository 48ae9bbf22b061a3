package pitr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tidwall "github.com/tidwall/wal"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
	"github.com/walship/walship/wal"
)

// base is a snapshot stored in a fixture and the directory it was taken of.
type base struct {
	m   snapshot.Manifest
	dir string
}

// dataDir makes a data directory whose content depends on seed: files of
// 0 bytes to a few chunks, a subdirectory with its own mode, a symlink.
func dataDir(t testing.TB, seed int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	rng := rand.New(rand.NewSource(seed))
	write := func(rel string, n int) {
		b := make([]byte, n)
		rng.Read(b)
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o750); err != nil {
		t.Fatal(err)
	}
	write("MANIFEST", 100+rng.Intn(100))
	write("empty", 0)
	write("sub/table", 3000+rng.Intn(3000)) // several 1 KiB chunks
	write("sub/deeper/one", 1)
	write("shared", 2048) // the same first bytes in every seed would dedup; these differ
	if err := os.Symlink("sub/table", filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// putBase uploads a snapshot of a new data directory as the base for
// (tl, index).
func putBase(t testing.TB, st backends.Store, tl uint32, index uint64, seed int64) base {
	t.Helper()
	dir := dataDir(t, seed)
	m, _, err := snapshot.Upload(context.Background(), st, snapshot.Source{Dir: dir, Index: index},
		snapshot.Options{Timeline: tl, ChunkSize: snapshot.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	return base{m: m, dir: dir}
}

// sameTree fails unless got holds exactly what want holds: paths, types,
// permission bits, file bytes and symlink targets.
func sameTree(t testing.TB, got, want string) {
	t.Helper()
	type node struct {
		mode fs.FileMode
		data string
	}
	read := func(root string) map[string]node {
		out := map[string]node{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			n := node{mode: fi.Mode() & (fs.ModeType | fs.ModePerm)}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				n.mode = fs.ModeSymlink
				tg, err := os.Readlink(p)
				if err != nil {
					return err
				}
				n.data = tg
			case fi.Mode().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				n.data = string(b)
			}
			out[rel] = n
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	g, w := read(got), read(want)
	if len(g) != len(w) {
		t.Fatalf("restored data dir holds %d names, the snapshot source %d", len(g), len(w))
	}
	for rel, wn := range w {
		gn, ok := g[rel]
		if !ok {
			t.Fatalf("restored data dir lacks %s", rel)
		}
		if gn.mode != wn.mode || gn.data != wn.data {
			t.Fatalf("restored %s differs: mode %v vs %v, %d vs %d bytes", rel, gn.mode, wn.mode, len(gn.data), len(wn.data))
		}
	}
}

// wantAfter is the expected restored log of (tl, n) without the entries the
// base at index holds.
func wantAfter(t testing.TB, f *fixture, tl uint32, n, index uint64) []segments.Entry {
	t.Helper()
	all, ok := f.expect(tl, n)
	if !ok {
		t.Fatalf("fixture cannot restore timeline %d index %d", tl, n)
	}
	var out []segments.Entry
	for _, e := range all {
		if e.Index > index {
			out = append(out, e)
		}
	}
	return out
}

// restoreBase restores tg into a new OUT_DIR and checks the result: the data
// dir equals the base's source, the log holds exactly want, and tidwall
// opens it and can append after it.
func restoreBase(t *testing.T, st backends.Store, tg Target, b *base, format wal.Format, want []segments.Entry, to uint64) *Plan {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	p, res, err := Restore(context.Background(), st, tg, out, Options{SegmentSize: 16 << 10})
	if err != nil {
		t.Fatalf("%s: %v", tg, err)
	}
	if b == nil {
		if p.Base != nil || res.DataDir != "" {
			t.Fatalf("%s: restored from base %s, want none", tg, p.Base.Key)
		}
		assertNames(t, out, "wal")
	} else {
		if p.Base == nil || p.Base.Key != b.m.Key() {
			got := "none"
			if p.Base != nil {
				got = p.Base.Key
			}
			t.Fatalf("%s: base %s, want %s (notes %q)", tg, got, b.m.Key(), p.Notes)
		}
		if res.DataDir != filepath.Join(out, "data") || res.Base != b.m.Key() {
			t.Fatalf("result %+v", res)
		}
		assertNames(t, out, "data", "wal")
		sameTree(t, res.DataDir, b.dir)
		if p.From != b.m.Index+1 || res.From != p.From {
			t.Fatalf("%s: log from %d, want %d", tg, p.From, b.m.Index+1)
		}
	}
	if p.To != to || res.To != to {
		t.Fatalf("%s: log to %d, want %d", tg, p.To, to)
	}
	sameEntries(t, readLog(t, res.WALDir, format, 16<<10), want)
	if res.Entries != uint64(len(want)) {
		t.Fatalf("result says %d entries, want %d", res.Entries, len(want))
	}

	lf := tidwall.Binary
	if format == wal.FormatJSON {
		lf = tidwall.JSON
	}
	l, err := tidwall.Open(res.WALDir, &tidwall.Options{LogFormat: lf, AllowEmpty: true, SegmentSize: 16 << 10})
	if err != nil {
		t.Fatalf("tidwall Open: %v", err)
	}
	defer l.Close()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	if first != p.From || last != to {
		t.Fatalf("tidwall sees %d..%d, want %d..%d", first, last, p.From, to)
	}
	for _, e := range want {
		got, err := l.Read(e.Index)
		if err != nil || !bytes.Equal(got, e.Data) {
			t.Fatalf("tidwall Read(%d): %v", e.Index, err)
		}
	}
	if err := l.Write(to+1, []byte("next")); err != nil {
		t.Fatalf("tidwall cannot append %d: %v", to+1, err)
	}
	return p
}

// The newest base at or before the target on its history is chosen: not
// one after the target, not one past a fork the history does not follow,
// not one on a sibling timeline; one on an ancestor before the fork is.
func TestBaseChoice(t *testing.T) {
	for sname, mk := range stores(t) {
		for _, format := range formats {
			t.Run(fmt.Sprintf("%s/%s", sname, format), func(t *testing.T) {
				f := fixtureFork(t, mk(t), format, 50) // 1: 1..300; 2: fork 200, 201..350; 3: fork 280 (of 2), 281..340
				b1a := putBase(t, f.st, 1, 100, 1)
				b1b := putBase(t, f.st, 1, 250, 2) // past timeline 2's fork
				b2a := putBase(t, f.st, 2, 260, 3)
				b3 := putBase(t, f.st, 3, 300, 4)
				b2b := putBase(t, f.st, 2, 330, 5) // past timeline 3's fork: a sibling of 3's own entries
				cases := []struct {
					tg Target
					b  *base
					tl uint32
					n  uint64
				}{
					{Target{}, &b3, 3, 340},
					{Target{Timeline: 3, Index: 290}, &b2a, 3, 290},
					{Target{Timeline: 3, Index: 300}, &b3, 3, 300}, // the base itself: empty log
					{Target{Timeline: 2}, &b2b, 2, 350},
					{Target{Timeline: 2, Index: 255}, &b1a, 2, 255},
					{Target{Timeline: 1, Index: 260}, &b1b, 1, 260},
					{Target{Timeline: 1, Index: 250}, &b1b, 1, 250},
					{Target{Timeline: 1, Index: 50}, nil, 1, 50},
				}
				for _, c := range cases {
					var want []segments.Entry
					if c.b != nil {
						want = wantAfter(t, f, c.tl, c.n, c.b.m.Index)
					} else {
						want, _ = f.expect(c.tl, c.n)
					}
					restoreBase(t, f.st, c.tg, c.b, format, want, c.n)
				}
				// A time target resolves to an index first, then picks its base.
				e := f.own[2][70] // entry 271 of timeline 2
				at := time.Unix(0, e.Time)
				want, _ := f.expectTime(2, e.Time)
				n := want[len(want)-1].Index
				b := &b2a
				if n < b2a.m.Index {
					b = &b1a
				}
				restoreBase(t, f.st, Target{Timeline: 2, Time: at}, b, format, wantAfter(t, f, 2, n, b.m.Index), n)
			})
		}
	}
}

// A target at the base's own index restores the base alone and an empty
// log that starts at the next index.
func TestBaseEmptyLog(t *testing.T) {
	f := newFixture(t, newMem(), wal.FormatBinary, 51)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 120)
	b := putBase(t, f.st, 1, 120, 6)
	p := restoreBase(t, f.st, Target{}, &b, wal.FormatBinary, nil, 120)
	if p.Entries() != 0 || p.Segments.Len() != 0 || p.From != 121 || p.Format != wal.FormatBinary {
		t.Fatalf("plan %+v", p)
	}
	var d strings.Builder
	p.Describe(&d)
	if !strings.Contains(d.String(), "none after the base: the restored log is empty and starts at 121") {
		t.Fatalf("describe:\n%s", d.String())
	}
	// Without AllowEmpty tidwall refuses an empty log, as it does its own.
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := Restore(context.Background(), f.st, Target{Index: 120}, out, Options{}); err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(filepath.Join(out, "wal"))
	if len(names) != 1 || names[0].Name() != "00000000000000000121" {
		t.Fatalf("empty log files %v", names)
	}
	if _, err := tidwall.Open(filepath.Join(out, "wal"), nil); !errors.Is(err, tidwall.ErrEmptyLog) {
		t.Fatalf("tidwall Open without AllowEmpty: %v", err)
	}
}

// A hole in the segments stops a restore that needs the entries in it; a
// base after the hole makes later targets restorable, and the error for
// one before it says so.
func TestBaseCrossesHole(t *testing.T) {
	ctx := context.Background()
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			f := newFixture(t, mk(t), wal.FormatJSON, 52)
			f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
			var hole segments.SegmentName
			for _, k := range f.keys[1][1:] {
				if hole, _ = segments.ParseSegmentKey(k); hole.Last >= 100 {
					if err := f.st.Delete(ctx, k); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
			rng := fmt.Sprintf("entries %d..%d", hole.First, hole.Last)

			// No base: latest fails, and the message points at bases.
			_, err := MakePlan(ctx, f.st, Target{})
			if !errors.Is(err, ErrMissingSegments) || !strings.Contains(err.Error(), rng) || !strings.Contains(err.Error(), "no base snapshot on this history follows them") {
				t.Fatalf("hole without base: %v", err)
			}

			b := putBase(t, f.st, 1, hole.Last+20, 7)
			restoreBase(t, f.st, Target{}, &b, wal.FormatJSON, wantAfter(t, f, 1, 300, b.m.Index), 300)
			restoreBase(t, f.st, Target{Index: hole.Last + 20}, &b, wal.FormatJSON, nil, hole.Last+20)
			// A target inside the hole or between it and the base still fails,
			// naming the base as the way out.
			for _, n := range []uint64{hole.Last, hole.Last + 10} {
				_, err = MakePlan(ctx, f.st, Target{Index: n})
				want := fmt.Sprintf("base snapshot %s (timeline 1, index %d) follows them: a target at or after it is restorable from it (--index >= %d)", b.m.Key(), b.m.Index, b.m.Index)
				if !errors.Is(err, ErrMissingSegments) || !strings.Contains(err.Error(), rng) || !strings.Contains(err.Error(), want) {
					t.Fatalf("index %d: %v", n, err)
				}
			}
			// Before the hole, no base is on the way: a plain replay.
			want, _ := f.expect(1, hole.First-1)
			restoreBase(t, f.st, Target{Index: hole.First - 1}, nil, wal.FormatJSON, want, hole.First-1)

			// --no-base: the hole stops it again, and the error says the base would not.
			_, err = MakePlan(ctx, f.st, Target{NoBase: true})
			if !errors.Is(err, ErrMissingSegments) || !strings.Contains(err.Error(), "leave out --no-base") {
				t.Fatalf("--no-base across the hole: %v", err)
			}
		})
	}
}

// Entries the database truncated before shipping (a TruncateFront gap
// timeline): a base at or after the gap restores targets the log alone
// cannot.
func TestBaseCrossesLostEntries(t *testing.T) {
	ctx := context.Background()
	f := fixtureGap(t, newMem(), wal.FormatBinary, 53) // 1: 1..100; 2: fork 100, 151..250 (101..150 lost)
	_, err := MakePlan(ctx, f.st, Target{Index: 150})
	if !errors.Is(err, ErrNotRestorable) || !strings.Contains(err.Error(), "base snapshot") {
		t.Fatalf("lost entry without base: %v", err)
	}
	early := putBase(t, f.st, 1, 50, 8) // before the loss: no use after it
	p := restoreBase(t, f.st, Target{}, nil, wal.FormatBinary, f.own[2], 250)
	if !strings.Contains(strings.Join(p.Notes, "\n"), "base snapshot "+early.m.Key()+" (timeline 1, index 50) not used: it needs entries 101..150") {
		t.Fatalf("notes %q", p.Notes)
	}
	b := putBase(t, f.st, 2, 150, 9)
	restoreBase(t, f.st, Target{Index: 150}, &b, wal.FormatBinary, nil, 150)
	restoreBase(t, f.st, Target{}, &b, wal.FormatBinary, f.own[2], 250)
	// Below the fork the early base serves timeline 2's history too.
	restoreBase(t, f.st, Target{Index: 80}, &early, wal.FormatBinary, f.own[1][50:80], 80)

	// A time target whose first later entry follows the loss lands on the
	// base; the plan says the lost entries' times are unknown.
	at := time.Unix(0, f.own[2][0].Time-1)
	p, err = MakePlan(ctx, f.st, Target{Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if p.Base == nil || p.Base.Key != b.m.Key() || p.To != 150 || !strings.Contains(strings.Join(p.Notes, "\n"), "entries 101..150 are in the base snapshot but in no stored segment, so their times are unknown") {
		t.Fatalf("time in the loss: base %v to %d notes %q", p.Base, p.To, p.Notes)
	}
}

// --no-base replays from the history's start and writes no data dir.
func TestNoBase(t *testing.T) {
	f := fixtureFork(t, newMem(), wal.FormatBinary, 54)
	putBase(t, f.st, 3, 300, 10)
	want, _ := f.expect(3, 340)
	p := restoreBase(t, f.st, Target{NoBase: true}, nil, wal.FormatBinary, want, 340)
	if p.From != 1 || !strings.Contains(strings.Join(p.Notes, "\n"), "--no-base") {
		t.Fatalf("plan from %d, notes %q", p.From, p.Notes)
	}
}

// A corrupt chunk of the base fails the restore naming the chunk, and
// leaves neither OUT_DIR/data nor OUT_DIR/wal (nor an OUT_DIR it made).
func TestBaseCorruptChunk(t *testing.T) {
	ctx := context.Background()
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			f := newFixture(t, mk(t), wal.FormatBinary, 55)
			f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 200)
			b := putBase(t, f.st, 1, 150, 11)
			var victim string
			for _, fl := range b.m.Files {
				if fl.Path == "sub/table" {
					victim = segments.ChunkKey(fl.Chunks[1])
				}
			}
			flip(t, f.st, victim, segments.ChunkHeaderSizeV1+7)
			p, err := MakePlan(ctx, f.st, Target{})
			if err != nil || p.Base == nil {
				t.Fatalf("plan: %v", err)
			}
			out := filepath.Join(t.TempDir(), "out")
			_, err = Execute(ctx, f.st, p, out, Options{})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), victim) {
				t.Fatalf("Execute: %v; want a corruption error naming %s", err, victim)
			}
			noWAL(t, out)

			// With --force over existing data and wal dirs: both untouched.
			out = t.TempDir()
			for _, d := range []string{"data", "wal"} {
				if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, d, oldName[d]), []byte(d), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			markEarlierRestore(t, out, oldName["data"])
			if _, err := Execute(ctx, f.st, p, out, Options{Force: true}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("forced Execute: %v", err)
			}
			assertNames(t, out, "data", "wal")
			for _, d := range []string{"data", "wal"} {
				assertNames(t, filepath.Join(out, d), oldName[d])
			}
			// A chunk missing from the store: the base is passed over while
			// planning, with a note.
			if err := f.st.Delete(ctx, victim); err != nil {
				t.Fatal(err)
			}
			p, err = MakePlan(ctx, f.st, Target{})
			if err != nil || p.Base != nil || !strings.Contains(strings.Join(p.Notes, "\n"), "lacks 1 of its chunks, e.g. "+victim) {
				t.Fatalf("plan with a missing chunk: %v, notes %q", err, p.Notes)
			}
		})
	}
}

// oldName is a file of an earlier restore in its wal and data dirs.
var oldName = map[string]string{"data": "old", "wal": "00000000000000000001"}

// A successful forced restore replaces an existing data dir and wal dir;
// --data-dir and --wal-dir elsewhere work, and nonsense layouts are refused.
func TestBaseOutDirs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 56)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 80)
	b := putBase(t, f.st, 1, 40, 12)
	p, err := MakePlan(ctx, f.st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, d := range []string{"data", "wal"} {
		os.MkdirAll(filepath.Join(out, d), 0o755)
		os.WriteFile(filepath.Join(out, d, oldName[d]), []byte(d), 0o644)
	}
	markEarlierRestore(t, out, oldName["data"])
	if _, err := Execute(ctx, f.st, p, out, Options{}); !errors.Is(err, ErrOutDirNotEmpty) {
		t.Fatalf("not forced: %v", err)
	}
	res, err := Execute(ctx, f.st, p, out, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	assertNames(t, out, "data", "wal")
	sameTree(t, res.DataDir, b.dir)

	out2 := filepath.Join(t.TempDir(), "o")
	dd := filepath.Join(t.TempDir(), "db", "data")
	res, err = Execute(ctx, f.st, p, out2, Options{DataDir: dd})
	if err != nil || res.DataDir != dd {
		t.Fatalf("DataDir: %v %+v", err, res)
	}
	sameTree(t, dd, b.dir)
	assertNames(t, out2, "wal")
	z := filepath.Join(t.TempDir(), "z")
	for _, o := range []Options{
		{DataDir: z},
		{DataDir: filepath.Dir(z)},
		{WALDir: filepath.Join(z, "w"), DataDir: filepath.Join(z, "w", "d")},
		{WALDir: filepath.Join(z, "w", "x"), DataDir: filepath.Join(z, "w")},
		{WALDir: filepath.Join(z, "same"), DataDir: filepath.Join(z, "same")},
	} {
		if _, err := Execute(ctx, f.st, p, z, o); err == nil || !strings.Contains(err.Error(), "must not be") {
			t.Fatalf("layout %+v: %v", o, err)
		}
	}
	if _, err := os.Stat(z); !os.IsNotExist(err) {
		t.Fatalf("refused layouts created %s", z)
	}
}

// The dry run shows the base, the bytes and an estimate.
func TestDescribeBase(t *testing.T) {
	f := fixtureFork(t, newMem(), wal.FormatBinary, 57)
	b := putBase(t, f.st, 2, 260, 13)
	p, err := MakePlan(context.Background(), f.st, Target{Timeline: 3, Index: 290})
	if err != nil {
		t.Fatal(err)
	}
	var d strings.Builder
	p.Describe(&d)
	out := d.String()
	files := 0
	for _, fl := range b.m.Files {
		if fl.Type == segments.TypeFile {
			files++
		}
	}
	for _, want := range []string{
		"base:      " + b.m.Key(),
		"timeline 2, index 260 (holds every entry up to it), taken " + b.m.Time.UTC().Format(time.RFC3339),
		fmt.Sprintf("%d files, %s", files, humanBytes(b.m.TotalSize)),
		"entries:   261..290 (30 entries): 261..280 from timeline 2, 281..290 from timeline 3",
		fmt.Sprintf("total:     %s to fetch", humanBytes(p.Bytes+p.Base.FetchBytes)),
		"estimate:  about ",
		"a guess",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Describe lacks %q:\n%s", want, out)
		}
	}
	if p.Estimate <= 0 || p.Base.FetchBytes <= 0 || p.Base.Chunks == 0 {
		t.Fatalf("plan %+v base %+v", p, p.Base)
	}
	p2, err := MakePlan(context.Background(), f.st, Target{Timeline: 1, Index: 10})
	if err != nil {
		t.Fatal(err)
	}
	d.Reset()
	p2.Describe(&d)
	if !strings.Contains(d.String(), "base:      none") {
		t.Fatalf("Describe without base:\n%s", d.String())
	}
}

// With several stores a chunk missing or damaged in the preferred one is
// read from the next.
func TestBaseMultiStoreFallback(t *testing.T) {
	ctx := context.Background()
	a, bst := mem.New(), mem.New()
	f := newFixture(t, a, wal.FormatBinary, 58)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 100)
	b := putBase(t, a, 1, 60, 14)
	if _, err := Copy(ctx, a, bst, 2, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	var chunks []string
	for _, fl := range b.m.Files {
		for _, d := range fl.Chunks {
			chunks = append(chunks, segments.ChunkKey(d))
		}
	}
	flip(t, a, chunks[0], segments.ChunkHeaderSizeV1+1)
	if err := a.Delete(ctx, chunks[len(chunks)-1]); err != nil {
		t.Fatal(err)
	}
	both := multi.New(multi.Member{Name: "a", Store: a}, multi.Member{Name: "b", Store: bst})
	restoreBase(t, both, Target{}, &b, wal.FormatBinary, wantAfter(t, f, 1, 100, 60), 100)
	// Damaged in both: the error names the chunk and each store.
	flip(t, bst, chunks[0], segments.ChunkHeaderSizeV1+1)
	out := filepath.Join(t.TempDir(), "out")
	_, _, err := Restore(ctx, both, Target{}, out, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), chunks[0]) || !strings.Contains(err.Error(), "a: ") || !strings.Contains(err.Error(), "b: ") {
		t.Fatalf("damaged everywhere: %v", err)
	}
	noWAL(t, out)
}

// A base whose manifest is damaged is passed over for the next older one,
// with a note naming it.
func TestBaseCorruptManifest(t *testing.T) {
	f := newFixture(t, newMem(), wal.FormatBinary, 59)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 120)
	older := putBase(t, f.st, 1, 50, 15)
	newer := putBase(t, f.st, 1, 90, 16)
	flip(t, f.st, newer.m.Key(), 60)
	p := restoreBase(t, f.st, Target{}, &older, wal.FormatBinary, f.own[1][50:], 120)
	if !strings.Contains(strings.Join(p.Notes, "\n"), "base snapshot "+newer.m.Key()+" (timeline 1, index 90) not used: its manifest cannot be read") {
		t.Fatalf("notes %q", p.Notes)
	}
}

// listCounter counts a store's listings of chunks/.
type listCounter struct {
	backends.Store
	chunkLists int
}

func (c *listCounter) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if prefix == segments.ChunksPrefix {
		c.chunkLists++
	}
	return c.Store.List(ctx, prefix, after, fn)
}

// TestBaseChunksOfItsOwn: planning finds a base's chunks in one listing
// of chunks/ per base considered, keeping that base's chunks only: chunks
// of other bases and stray chunk objects in the store are neither needed
// nor counted, a chunk only an older base needs can go, and a chunk the
// newest base needs sends the plan to the older one.
func TestBaseChunksOfItsOwn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 57)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 80)
	older := putBase(t, f.st, 1, 20, 12)
	newer := putBase(t, f.st, 1, 40, 13)
	for i := range 50 { // chunks of no base
		d := segments.DigestOf([]byte(fmt.Sprint("stray", i)))
		if err := f.st.Put(ctx, segments.ChunkKey(d), strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	refs := func(m snapshot.Manifest) map[segments.Digest]bool {
		out := map[segments.Digest]bool{}
		eachChunkRef(m, func(d segments.Digest, _ string) { out[d] = true })
		return out
	}
	oldRefs, newRefs := refs(older.m), refs(newer.m)
	var fetch int64
	eachChunkRef(newer.m, func(d segments.Digest, _ string) {
		oi, err := f.st.Stat(ctx, segments.ChunkKey(d))
		if err != nil {
			t.Fatal(err)
		}
		fetch += oi.Size
	})
	plan := func(wantID string, wantLists int) *Plan {
		t.Helper()
		c := &listCounter{Store: f.st}
		p, err := MakePlan(ctx, c, Target{})
		if err != nil || p.Base == nil || p.Base.ID != wantID || c.chunkLists != wantLists {
			t.Fatalf("plan: %v, base %+v, %d listings of chunks/; want base %s after %d", err, p.Base, c.chunkLists, wantID, wantLists)
		}
		return p
	}
	p := plan(newer.m.ID, 1)
	if p.Base.FetchBytes != fetch || p.Base.Chunks == 0 {
		t.Fatalf("base fetches %d chunks, %d bytes; want %d bytes, its own chunks' stored sizes", p.Base.Chunks, p.Base.FetchBytes, fetch)
	}
	// del deletes a chunk of one base that the other lacks, and returns
	// its key and what puts it back.
	del := func(only, not map[segments.Digest]bool) (string, func()) {
		t.Helper()
		for d := range only {
			if not[d] {
				continue
			}
			key := segments.ChunkKey(d)
			b := read(t, f.st, key)
			if err := f.st.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			return key, func() { put(t, f.st, key, b) }
		}
		t.Fatal("the two bases share every chunk")
		return "", nil
	}
	_, putBack := del(oldRefs, newRefs)
	plan(newer.m.ID, 1)
	putBack()
	victim, _ := del(newRefs, oldRefs)
	p = plan(older.m.ID, 2)
	if !strings.Contains(strings.Join(p.Notes, "\n"), "lacks 1 of its chunks, e.g. "+victim) {
		t.Fatalf("notes %q: want the newer base passed over for %s", p.Notes, victim)
	}
	// The older base restores its data exactly.
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Execute(ctx, f.st, p, out, Options{}); err != nil {
		t.Fatal(err)
	}
	sameTree(t, filepath.Join(out, "data"), older.dir)
}
