// Package retentiontest builds stores with a known history for retention
// and prune tests: timelines of entries with known times shipped as
// segments (segments.NewWriter), base snapshots uploaded from data
// directories whose contents are a function of the history up to their
// index (snapshot.Upload), restore points, and a restore check that proves
// a restore byte-identical to that model (or returns pitr's error).
package retentiontest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/internal/testwal"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
	"github.com/walship/walship/wal"
)

// ChunkSize is the chunk size of every base snapshot a World uploads.
const ChunkSize = 1024

// Base is a base snapshot a World uploaded.
type Base struct {
	Key      string
	Timeline uint32
	Index    uint64
	Dir      string // the data directory it was taken from
}

// World is a store and the history it holds.
type World struct {
	T     testing.TB
	St    backends.Store
	T0    time.Time     // time of the first entry
	Step  time.Duration // between consecutive entries (in creation order)
	Recs  map[uint32]segments.Timeline
	Own   map[uint32][]segments.Entry // each timeline's own entries, from StartIndex
	Bases map[string]Base
	Seg   map[uint32][]segments.SegmentName // segments shipped per timeline

	seq     int64 // entries created so far (their times)
	segLens []int
	segNext int
	root    string
	// PartEvery is how many entries each "parts/" file of a base data
	// directory stands for (bases share the parts of their common past).
	PartEvery uint64
	// Extra adds a file of this many random bytes (seeded by the base's
	// index) to every base: many chunks no other base shares.
	Extra int
	// Recipients and Secret, when set, encrypt the bases Base uploads;
	// Identities open the store's encrypted objects in Restore.
	Recipients []*crypt.Recipient
	Secret     *crypt.ChunkSecret
	Identities []*crypt.Identity
}

// New returns an empty world on st whose first entry is at t0, one entry
// every step.
func New(t testing.TB, st backends.Store, t0 time.Time, step time.Duration) *World {
	return &World{T: t, St: st, T0: t0, Step: step, Recs: map[uint32]segments.Timeline{},
		Own: map[uint32][]segments.Entry{}, Bases: map[string]Base{}, Seg: map[uint32][]segments.SegmentName{},
		segLens: []int{7, 3, 11, 5, 9, 1, 13, 6}, root: t.TempDir(), PartEvery: 25}
}

// Data is entry idx of timeline tl's payload.
func Data(tl uint32, idx uint64) []byte {
	r := rand.New(rand.NewPCG(uint64(tl), idx))
	n := r.IntN(200)
	if idx%17 == 3 {
		n = 3000 + r.IntN(3000)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Timeline stores rec and ships n own entries of it from rec.StartIndex.
func (w *World) Timeline(rec segments.Timeline, n int) {
	w.T.Helper()
	b, err := segments.EncodeTimeline(rec)
	if err != nil {
		w.T.Fatal(err)
	}
	w.put(segments.TimelineKey(rec.ID), b)
	w.Recs[rec.ID] = rec
	w.Append(rec.ID, n)
}

// Append ships n more entries of timeline tl.
func (w *World) Append(tl uint32, n int) {
	w.T.Helper()
	rec := w.Recs[tl]
	next := rec.StartIndex
	if own := w.Own[tl]; len(own) > 0 {
		next = own[len(own)-1].Index + 1
	}
	es := make([]segments.Entry, n)
	for i := range es {
		es[i] = segments.Entry{Index: next + uint64(i), Time: w.T0.Add(time.Duration(w.seq) * w.Step).UnixNano(), Data: Data(tl, next+uint64(i))}
		w.seq++
	}
	w.Own[tl] = append(w.Own[tl], es...)
	for len(es) > 0 {
		k := min(w.segLens[w.segNext%len(w.segLens)], len(es))
		w.segNext++
		w.ship(tl, es[:k], w.segNext%2 == 0)
		es = es[k:]
	}
}

type sink struct{ b []byte }

func (s *sink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *sink) WriteAt(p []byte, off int64) (int, error) {
	copy(s.b[off:], p)
	return len(p), nil
}

func (w *World) ship(tl uint32, es []segments.Entry, zstd bool) {
	w.T.Helper()
	codec := segments.CodecNone
	if zstd {
		codec = segments.CodecZstd
	}
	var s sink
	sw, err := segments.NewWriter(&s, tl, uint8(wal.FormatBinary), codec)
	if err != nil {
		w.T.Fatal(err)
	}
	for _, e := range es {
		if err := sw.Append(e); err != nil {
			w.T.Fatal(err)
		}
	}
	h, err := sw.Finish()
	if err != nil {
		w.T.Fatal(err)
	}
	name := segments.NameOf(h)
	w.put(name.Key(), s.b)
	w.Seg[tl] = append(w.Seg[tl], name)
}

func (w *World) put(key string, b []byte) {
	w.T.Helper()
	if err := w.St.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		w.T.Fatalf("put %s: %v", key, err)
	}
}

// Position is an entry of a history: which timeline supplies it, its data
// and time.
type Position struct {
	Timeline uint32
	Data     []byte
	Time     int64
}

// History returns every position of tl's history (across gaps: the
// positions before a gap are the parent's), by index.
func (w *World) History(tl uint32) map[uint64]Position {
	out := map[uint64]Position{}
	upper := ^uint64(0)
	for id := tl; id != 0; {
		rec := w.Recs[id]
		for _, e := range w.Own[id] {
			if e.Index <= upper {
				out[e.Index] = Position{Timeline: id, Data: e.Data, Time: e.Time}
			}
		}
		if rec.Parent == 0 || rec.ForkIndex == 0 {
			break
		}
		upper = min(upper, rec.ForkIndex)
		id = rec.Parent
	}
	return out
}

// Indexes returns the positions of a history in order.
func Indexes(h map[uint64]Position) []uint64 {
	out := make([]uint64, 0, len(h))
	for i := range h {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// RunStart is where a restore of tl to n without a base begins: the first
// position after the last gap at or before n.
func (w *World) RunStart(tl uint32, n uint64) uint64 {
	h := w.History(tl)
	idx := Indexes(h)
	start := idx[0]
	for i := 1; i < len(idx) && idx[i] <= n; i++ {
		if idx[i] != idx[i-1]+1 {
			start = idx[i]
		}
	}
	return start
}

// IndexAt is what a time target at resolves to on tl: the entry before the
// first one, in index order along the history, whose time is after at;
// the latest when none is; 0 when the first is.
func (w *World) IndexAt(tl uint32, at time.Time) uint64 {
	h := w.History(tl)
	idx := Indexes(h)
	for i, n := range idx {
		if h[n].Time > at.UnixNano() {
			if i == 0 {
				return 0
			}
			return idx[i-1]
		}
	}
	return idx[len(idx)-1]
}

// digest is the state of the "database" after entries <= idx of tl's
// history: a hash over them.
func (w *World) digest(tl uint32, idx uint64) string {
	h := w.History(tl)
	sum := sha256.New()
	for _, n := range Indexes(h) {
		if n > idx {
			break
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], n)
		sum.Write(b[:])
		sum.Write(h[n].Data)
	}
	return hex.EncodeToString(sum.Sum(nil))
}

func seeded(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0xba5e))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// DataDir writes the data directory of the state at (tl, idx): a file all
// bases share, one part file per PartEvery entries (bases share the parts
// of their common past), and a digest of the history up to idx.
func (w *World) DataDir(tl uint32, idx uint64) string {
	w.T.Helper()
	dir, err := os.MkdirTemp(w.root, fmt.Sprintf("data-%d-%d-", tl, idx))
	if err != nil {
		w.T.Fatal(err)
	}
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.T.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			w.T.Fatal(err)
		}
	}
	write("shared.bin", seeded(1, 4*ChunkSize+100))
	for k := uint64(0); k <= idx/w.PartEvery; k++ {
		write(fmt.Sprintf("parts/p%04d", k), seeded(1000+k, ChunkSize+ChunkSize/2))
	}
	if w.Extra > 0 {
		write("extra.bin", seeded(1<<40+uint64(tl)<<32+idx, w.Extra))
	}
	write("digest", fmt.Appendf(nil, "%s %d\n", w.digest(tl, idx), idx))
	return dir
}

// Base uploads a base snapshot of the state at (tl, idx).
func (w *World) Base(tl uint32, idx uint64) Base {
	w.T.Helper()
	dir := w.DataDir(tl, idx)
	m, _, err := snapshot.Upload(context.Background(), w.St, snapshot.Source{Dir: dir, Index: idx},
		snapshot.Options{Timeline: tl, ChunkSize: ChunkSize, Parallel: 2, Recipients: w.Recipients, ChunkSecret: w.Secret})
	if err != nil {
		w.T.Fatal(err)
	}
	b := Base{Key: m.Key(), Timeline: tl, Index: idx, Dir: dir}
	w.Bases[b.Key] = b
	return b
}

// Point stores a restore point at entry idx of timeline tl.
func (w *World) Point(name string, tl uint32, idx uint64, pinned bool) segments.Point {
	w.T.Helper()
	pos, ok := w.History(tl)[idx]
	if !ok {
		w.T.Fatalf("point %s: no entry %d on timeline %d's history", name, idx, tl)
	}
	p := segments.Point{Name: name, Timeline: tl, Index: idx, Time: time.Unix(0, pos.Time).UTC(),
		Created: w.T0.UTC(), Pinned: pinned}
	b, err := segments.EncodePoint(p)
	if err != nil {
		w.T.Fatal(err)
	}
	w.put(segments.PointKey(name), b)
	return p
}

// EntryTime is the time of entry idx of tl's history.
func (w *World) EntryTime(tl uint32, idx uint64) time.Time {
	pos, ok := w.History(tl)[idx]
	if !ok {
		w.T.Fatalf("no entry %d on timeline %d's history", idx, tl)
	}
	return time.Unix(0, pos.Time)
}

// Latest is the newest entry of tl's own.
func (w *World) Latest(tl uint32) uint64 {
	own := w.Own[tl]
	return own[len(own)-1].Index
}

// Now is a moment just after the newest entry.
func (w *World) Now() time.Time { return w.T0.Add(time.Duration(w.seq) * w.Step) }

// WrongAnswer is the error Restore returns when a restore succeeded with
// something other than the model says (a bug, never acceptable).
var WrongAnswer = errors.New("restore gave a wrong answer")

var scratch atomic.Int64

// Restore restores tgt from st (the world's store unless st is given) and
// checks the result against the model: the target resolves as the model
// says, the data directory (with a base) is the state at the base's index
// of the restored history and the log holds exactly the history's entries
// after it up to the target. A restore that fails returns pitr's error; a
// wrong answer returns an error wrapping WrongAnswer.
func (w *World) Restore(ctx context.Context, st backends.Store, tgt pitr.Target) (*pitr.Plan, error) {
	if st == nil {
		st = w.St
	}
	out := filepath.Join(w.root, fmt.Sprintf("restore-%d", scratch.Add(1)))
	defer os.RemoveAll(out)
	plan, err := pitr.MakePlanWith(ctx, st, tgt, pitr.PlanOptions{Identities: w.Identities})
	if err != nil {
		return nil, err
	}
	res, err := pitr.Execute(ctx, st, plan, out, pitr.Options{Parallel: 2, Identities: w.Identities})
	if err != nil {
		return plan, err
	}
	wrong := func(format string, args ...any) (*pitr.Plan, error) {
		return plan, fmt.Errorf("%w: %s: %s", WrongAnswer, tgt, fmt.Sprintf(format, args...))
	}
	tl := plan.Timeline
	var want uint64
	switch {
	case tgt.Point != "":
		p, err := pitr.LoadPoint(ctx, st, tgt.Point)
		if err != nil {
			return plan, err
		}
		want = p.Index
	case tgt.Index != 0:
		want = tgt.Index
	case !tgt.Time.IsZero():
		want = w.IndexAt(tl, tgt.Time)
	default:
		want = w.Latest(tl)
	}
	if res.To != want || plan.To != want {
		return wrong("restored up to %d, want %d", res.To, want)
	}
	h := w.History(tl)
	from := w.RunStart(tl, want)
	if plan.Base != nil {
		b, ok := w.Bases[plan.Base.Key]
		if !ok {
			return wrong("base %s is not one the world made", plan.Base.Key)
		}
		if b.Index > want {
			return wrong("base %s at %d is after the target", b.Key, b.Index)
		}
		got, err := os.ReadFile(filepath.Join(out, "data", "digest"))
		if err != nil {
			return wrong("data dir: %v", err)
		}
		if wantD := fmt.Sprintf("%s %d\n", w.digest(tl, b.Index), b.Index); string(got) != wantD {
			return wrong("base %s holds another history's state", b.Key)
		}
		if err := sameTree(b.Dir, filepath.Join(out, "data")); err != nil {
			return wrong("data dir differs from base %s: %v", b.Key, err)
		}
		from = b.Index + 1
	} else if _, err := os.Stat(filepath.Join(out, "data")); err == nil {
		return wrong("a data dir without a base")
	}
	if res.From != from {
		return wrong("log starts at %d, want %d", res.From, from)
	}
	if res.Entries == 0 {
		if from != want+1 {
			return wrong("empty log, want entries %d..%d", from, want)
		}
		return plan, nil
	}
	first, es := testwal.ReadLog(w.T, filepath.Join(out, "wal"), wal.FormatAuto)
	if first != from || uint64(len(es)) != want-from+1 {
		return wrong("log holds %d entries from %d, want %d..%d", len(es), first, from, want)
	}
	for i, e := range es {
		n := from + uint64(i)
		pos, ok := h[n]
		if !ok || !bytes.Equal(pos.Data, e) {
			return wrong("entry %d differs", n)
		}
	}
	return plan, nil
}

// sameTree compares two directory trees: paths, types and contents.
func sameTree(a, b string) error {
	ta, err := tree(a)
	if err != nil {
		return err
	}
	tb, err := tree(b)
	if err != nil {
		return err
	}
	if len(ta) != len(tb) {
		return fmt.Errorf("%d entries, want %d", len(tb), len(ta))
	}
	for k, v := range ta {
		if tb[k] != v {
			return fmt.Errorf("%s differs", k)
		}
	}
	return nil
}

func tree(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	return out, err
}

// Keys lists every key of st with its size.
func Keys(t testing.TB, st backends.Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	if err := st.List(context.Background(), "", "", func(oi backends.ObjectInfo) error {
		out[oi.Key] = oi.Size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Clone copies every object of src into a new mem store.
func Clone(t testing.TB, src backends.Store) *mem.Store {
	t.Helper()
	dst := mem.New()
	CopyInto(t, src, dst)
	return dst
}

// CopyInto copies every object of src into dst.
func CopyInto(t testing.TB, src, dst backends.Store) {
	t.Helper()
	ctx := context.Background()
	for _, key := range SortedKeys(Keys(t, src)) {
		rc, err := src.Get(ctx, key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
}

// ManifestsComplete fails unless every manifest in st loads and every chunk
// it names is stored: no base looks restorable but is not.
func ManifestsComplete(t testing.TB, st backends.Store) {
	t.Helper()
	ctx := context.Background()
	keys := Keys(t, st)
	infos, err := snapshot.List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, mi := range infos {
		m, err := snapshot.Load(ctx, st, mi.Key)
		if err != nil {
			t.Fatalf("manifest %s: %v", mi.Key, err)
		}
		for _, d := range m.ChunkRefs() {
			if _, ok := keys[segments.ChunkKey(d)]; !ok {
				t.Fatalf("manifest %s refers to chunk %s, which is gone: a base that looks restorable but is not", mi.Key, segments.ChunkKey(d))
			}
		}
	}
}

// FailAfter is a store whose Delete fails (or cancels Cancel) after Left
// successful deletions: an interrupted prune.
type FailAfter struct {
	backends.Store
	mu      sync.Mutex
	Left    int
	Cancel  context.CancelFunc // if set, called instead of failing
	Deleted []string
}

// ErrInjected is FailAfter's failure.
var ErrInjected = errors.New("injected failure: the prune was killed")

// Delete implements backends.Store.
func (f *FailAfter) Delete(ctx context.Context, key string) error {
	f.mu.Lock()
	if f.Left <= 0 {
		f.mu.Unlock()
		if f.Cancel != nil {
			f.Cancel()
			return context.Canceled
		}
		return fmt.Errorf("delete %s: %w", key, ErrInjected)
	}
	f.Left--
	f.Deleted = append(f.Deleted, key)
	f.mu.Unlock()
	return f.Store.Delete(ctx, key)
}

// WriteFiles writes every object of src as a file under dir in the layout
// of a file store (backends/file), without its per-object fsyncs: a quick
// way to make a large file store for tests.
func WriteFiles(t testing.TB, src backends.Store, dir string) {
	t.Helper()
	ctx := context.Background()
	for _, key := range SortedKeys(Keys(t, src)) {
		rc, err := src.Get(ctx, key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
