package pitr

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
	"golang.org/x/sync/errgroup"
)

// Damage is an object Verify found wrong.
type Damage struct {
	Key     string `json:"key"`
	Problem string `json:"problem"`
}

// Gap is a run of entries: in Report.Gaps, entries of a timeline's own
// range that no intact segment holds; in Report.Lost, entries the agent
// recorded as truncated by the database before it shipped them.
type Gap struct {
	Timeline uint32 `json:"timeline"`
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
}

// Report is what Verify found.
type Report struct {
	Objects    int      `json:"objects"`               // every object in the store
	Segments   int      `json:"segments"`              // objects with a segment key
	Timelines  int      `json:"timelines"`             // objects with a timeline record key
	Snapshots  int      `json:"snapshots"`             // objects with a snapshot manifest key
	Chunks     int      `json:"chunks"`                // objects with a chunk key
	Points     int      `json:"points"`                // objects with a restore point key
	Entries    uint64   `json:"entries"`               // entries in intact segments
	Bytes      int64    `json:"bytes"`                 // bytes of every object
	InProgress int      `json:"in_progress_snapshots"` // markers of snapshot uploads running or interrupted
	Damaged    []Damage `json:"damaged"`
	Gaps       []Gap    `json:"gaps"`
	// Conflicts are pairs of intact segments of one timeline that hold
	// different entries at the same index: two logs shipped to one prefix.
	// No restore through them can be trusted, so they count as damage.
	Conflicts []Conflict `json:"conflicts"`
	Lost      []Gap      `json:"lost"` // recorded, not damage: see Gap
	// BeforeBase are runs at the start of a timeline's own range that no
	// segment holds but an intact base of that timeline at or after them
	// does: what prune removes on purpose. Not damage; targets inside them
	// are not restorable, the base and what follows it are.
	BeforeBase []Gap `json:"before_base,omitempty"`
	// Retired are runs at the start of an older timeline's own range that
	// no segment holds and no later timeline needs: every child sharing
	// them has them before an intact base of its history, or no child
	// shares them (a child that started anew, fork_index 0). What prune
	// removes of a timeline no retained target replays. Not damage;
	// targets inside them are not restorable.
	Retired []Gap `json:"retired,omitempty"`
	// UnrestorablePoints are intact restore point records that no restore
	// can reach from the intact objects of the store (Key: the point's
	// key): a broken promise to whoever marked them, but not damage to an
	// object, so OK does not count them.
	UnrestorablePoints []Damage `json:"unrestorable_points"`
}

// OK reports whether the store is free of damage and gaps.
func (r *Report) OK() bool { return len(r.Damaged) == 0 && len(r.Gaps) == 0 && len(r.Conflicts) == 0 }

// Describe writes the report for a person.
func (r *Report) Describe(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects, %s: %d segments holding %d intact entries, %d timeline records, %d snapshots, %d chunks, %d restore points\n",
		r.Objects, humanBytes(r.Bytes), r.Segments, r.Entries, r.Timelines, r.Snapshots, r.Chunks, r.Points)
	if r.InProgress > 0 {
		fmt.Fprintf(&b, "%d snapshot upload(s) in progress or interrupted (their chunks are reclaimed by prune once the marker expires)\n", r.InProgress)
	}
	for _, d := range r.Damaged {
		fmt.Fprintf(&b, "DAMAGED %s: %s\n", d.Key, d.Problem)
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(&b, "CONFLICT %s: two different logs were shipped to this prefix; a restore that needs entry %d refuses to guess\n", c, c.Index)
	}
	for _, g := range r.Gaps {
		fmt.Fprintf(&b, "GAP timeline %d: no intact segment holds entries %d..%d\n", g.Timeline, g.From, g.To)
	}
	for _, g := range r.BeforeBase {
		fmt.Fprintf(&b, "pruned before a base timeline %d: entries %d..%d are in a base snapshot, no longer in segments\n", g.Timeline, g.From, g.To)
	}
	for _, g := range r.Retired {
		fmt.Fprintf(&b, "pruned from a timeline later ones left behind: timeline %d entries %d..%d are no longer stored; no later timeline needs them\n", g.Timeline, g.From, g.To)
	}
	for _, g := range r.Lost {
		fmt.Fprintf(&b, "lost before shipping (recorded by the agent) timeline %d: entries %d..%d\n", g.Timeline, g.From, g.To)
	}
	for _, d := range r.UnrestorablePoints {
		fmt.Fprintf(&b, "UNRESTORABLE POINT %s: %s\n", d.Key, d.Problem)
	}
	if r.OK() {
		b.WriteString("OK: no damage, no gaps")
		if n := len(r.UnrestorablePoints); n > 0 {
			fmt.Fprintf(&b, " (but %d restore point(s) cannot be restored, see above)", n)
		}
		b.WriteString("\n")
	}
	io.WriteString(w, b.String())
}

// verifyParallel is how many segments Verify reads at once.
const verifyParallel = 4

// Verify reads every object in st. Every segment is decoded in full (header
// CRC, per-entry CRC32C, payload SHA-256, size against the listing, header
// against key); every timeline record is decoded and its parent must
// exist; each timeline's own range must be held by intact segments without
// a hole, and segments whose ranges overlap must hold the same entries
// where they do (else a Conflict naming both and the first differing
// index). Every chunk is decoded and hashed against its key; every
// snapshot manifest is decoded and validated, and each chunk it names must
// be stored and intact (else the manifest is damage too, naming the
// chunk); every restore point record is decoded, and a restore to it is
// planned from the intact objects alone: one that cannot be planned is
// listed in UnrestorablePoints. Keys under segments/, timelines/,
// snapshots/, chunks/ or points/ that are not walship keys are damage and
// are never read. Problems with the data go into the Report; the error is
// for a store that cannot be listed or read.
func Verify(ctx context.Context, st backends.Store) (*Report, error) {
	return VerifyWith(ctx, st, VerifyOptions{})
}

func verify(ctx context.Context, st backends.Store, prog Progress) (*Report, error) {
	r := &Report{}
	var segs []SegmentInfo
	var chunks []chunkInfo
	var tlKeys, snapKeys, pointKeys []string
	err := st.List(ctx, "", "", func(oi backends.ObjectInfo) error {
		r.Objects++
		r.Bytes += oi.Size
		switch {
		case strings.HasPrefix(oi.Key, segments.SegmentsPrefix):
			name, err := segments.ParseSegmentKey(oi.Key)
			if err != nil || name.Key() != oi.Key {
				r.damage(oi.Key, "not a walship segment key: foreign or hostile object under segments/ (restore ignores it)")
				return nil
			}
			segs = append(segs, SegmentInfo{Key: oi.Key, Size: oi.Size, Name: name})
		case strings.HasPrefix(oi.Key, segments.TimelinesPrefix):
			if _, err := segments.ParseTimelineKey(oi.Key); err != nil {
				r.damage(oi.Key, "not a walship timeline record key: foreign or hostile object under timelines/ (restore ignores it)")
				return nil
			}
			tlKeys = append(tlKeys, oi.Key)
		case strings.HasPrefix(oi.Key, snapshot.InProgressPrefix):
			r.InProgress++ // an upload running or killed: its chunks are garbage for prune, not damage
		case strings.HasPrefix(oi.Key, segments.SnapshotsPrefix):
			if _, err := segments.ParseSnapshotKey(oi.Key); err != nil {
				r.damage(oi.Key, "not a walship snapshot manifest key: foreign or hostile object under snapshots/ (restore ignores it)")
				return nil
			}
			snapKeys = append(snapKeys, oi.Key)
		case strings.HasPrefix(oi.Key, segments.ChunksPrefix):
			d, err := segments.ParseChunkKey(oi.Key)
			if err != nil {
				r.damage(oi.Key, "not a walship chunk key: foreign or hostile object under chunks/ (restore ignores it)")
				return nil
			}
			chunks = append(chunks, chunkInfo{key: oi.Key, size: oi.Size, digest: d})
		case strings.HasPrefix(oi.Key, segments.PointsPrefix):
			if _, err := segments.ParsePointKey(oi.Key); err != nil {
				r.damage(oi.Key, "not a walship restore point key: foreign or hostile object under points/ (restore ignores it)")
				return nil
			}
			pointKeys = append(pointKeys, oi.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	r.Segments, r.Timelines = len(segs), len(tlKeys)
	r.Snapshots, r.Chunks, r.Points = len(snapKeys), len(chunks), len(pointKeys)
	prog.Total(readTotals(segs, chunks))

	tls := &timelineSet{recs: map[uint32]segments.Timeline{}, bad: map[uint32]error{}}
	for _, key := range tlKeys {
		id, _ := segments.ParseTimelineKey(key)
		tls.ids = append(tls.ids, id)
		rec, err := readTimeline(ctx, st, key, id)
		if err != nil {
			if problem, ok := dataProblem(err); ok {
				r.damage(key, problem)
				tls.bad[id] = err
				continue
			}
			return nil, err
		}
		tls.recs[id] = rec
	}
	slices.Sort(tls.ids)

	intact, err := r.verifySegments(ctx, st, segs, prog)
	if err != nil {
		return nil, err
	}
	unreadable := map[uint32]bool{}
	for id := range tls.bad {
		unreadable[id] = true
	}
	held := r.checkHistory(tls.recs, unreadable, segs, intact)
	if err := r.checkOverlaps(ctx, st, segs, intact); err != nil {
		return nil, err
	}

	goodChunks, err := r.verifyChunks(ctx, st, chunks, prog)
	if err != nil {
		return nil, err
	}
	bases, manifests, err := r.verifyManifests(ctx, st, snapKeys, chunks, goodChunks)
	if err != nil {
		return nil, err
	}
	r.settlePrefixes(tls.recs, bases, held)

	// What a restore can use: intact objects only.
	pl := newPlanner(st, Target{}, tls)
	for _, id := range tls.ids {
		pl.segs[id] = []SegmentInfo{}
	}
	for i, s := range segs {
		if intact[i] {
			pl.segs[s.Name.Timeline] = append(pl.segs[s.Name.Timeline], s)
		}
	}
	pl.bases, pl.basesRead, pl.manifests, pl.chunks = bases, true, manifests, goodChunks
	if err := r.verifyPoints(ctx, st, pointKeys, pl); err != nil {
		return nil, err
	}

	slices.SortFunc(r.Damaged, func(a, b Damage) int { return cmp.Compare(a.Key, b.Key) })
	slices.SortFunc(r.Conflicts, func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Timeline, b.Timeline), cmp.Compare(a.Index, b.Index), cmp.Compare(a.A, b.A))
	})
	slices.SortFunc(r.Gaps, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(a.Timeline, b.Timeline), cmp.Compare(a.From, b.From))
	})
	return r, nil
}

// chunkInfo is a listed chunk object.
type chunkInfo struct {
	key    string
	size   int64
	digest segments.Digest
}

// verifyChunks reads every chunk (segments.ReadChunk against the digest its
// key names), verifyParallel at a time, and returns the intact ones with
// their stored sizes. Damage goes into the report.
func (r *Report) verifyChunks(ctx context.Context, st backends.Store, chunks []chunkInfo, prog Progress) (map[segments.Digest]int64, error) {
	good := make(map[segments.Digest]int64, len(chunks))
	err := r.checkAll(ctx, len(chunks), func(i int) string { return chunks[i].key }, func(i int) { prog.Add(1, chunks[i].size) },
		func(ctx context.Context, i int) (func(), error) {
			if err := verifyChunk(ctx, st, chunks[i]); err != nil {
				return nil, err
			}
			return func() { good[chunks[i].digest] = chunks[i].size }, nil
		})
	if err != nil {
		return nil, err
	}
	return good, nil
}

// checkAll runs check on items 0..n-1, verifyParallel at a time. An item
// whose check fails with a data problem is recorded as damage to key(i); a
// passing check's record func runs under the report's lock; any other
// failure (the store) stops the walk and is returned. done(i) follows
// every item checked, damaged or not.
func (r *Report) checkAll(ctx context.Context, n int, key func(int) string, done func(int), check func(context.Context, int) (record func(), err error)) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyParallel)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error {
			record, err := check(gctx, i)
			problem, damaged := "", false
			if err != nil {
				if problem, damaged = dataProblem(err); !damaged {
					return err
				}
			}
			done(i)
			mu.Lock()
			defer mu.Unlock()
			if damaged {
				r.damage(key(i), problem)
			} else {
				record()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func verifyChunk(ctx context.Context, st backends.Store, c chunkInfo) error {
	rc, err := st.Get(ctx, c.key, 0, -1)
	if err != nil {
		return fmt.Errorf("read %s: %w", c.key, err)
	}
	defer rc.Close()
	cr := &countReader{r: &ctxReader{ctx: ctx, r: rc}}
	if _, err := segments.ReadChunk(bufio.NewReaderSize(cr, 256<<10), c.digest); err != nil {
		return readProblem(cr, c.key, err)
	}
	if cr.n != c.size {
		return fmt.Errorf("%w: %d bytes read, the listing says %d", segments.ErrCorrupt, cr.n, c.size)
	}
	return nil
}

// verifyManifests reads every manifest (snapshot.Load: envelope, format
// rules, key) and checks that every chunk it names is stored and intact.
// It returns the usable ones (for planning restores to points) and every
// manifest read.
func (r *Report) verifyManifests(ctx context.Context, st backends.Store, keys []string, chunks []chunkInfo, good map[segments.Digest]int64) ([]snapshot.ManifestInfo, map[string]manifestResult, error) {
	listed := make(map[segments.Digest]bool, len(chunks))
	for _, c := range chunks {
		listed[c.digest] = true
	}
	var usable []snapshot.ManifestInfo
	read := map[string]manifestResult{}
	for _, key := range keys {
		m, err := snapshot.Load(ctx, st, key)
		if err != nil {
			problem, ok := dataProblem(err)
			if !ok {
				return nil, nil, err
			}
			r.damage(key, problem)
			continue
		}
		var missing, damaged []string
		seen := map[segments.Digest]bool{}
		for _, f := range m.Files {
			for _, d := range f.Chunks {
				if seen[d] {
					continue
				}
				seen[d] = true
				switch {
				case !listed[d]:
					missing = append(missing, fmt.Sprintf("%s (of %s)", segments.ChunkKey(d), f.Path))
				case !hasChunk(good, d):
					damaged = append(damaged, fmt.Sprintf("%s (of %s)", segments.ChunkKey(d), f.Path))
				}
			}
		}
		if len(missing) > 0 {
			r.damage(key, fmt.Sprintf("refers to %d chunk(s) the store does not hold: %s; this base snapshot cannot be restored", len(missing), examples(missing)))
		}
		if len(damaged) > 0 {
			r.damage(key, fmt.Sprintf("refers to %d damaged chunk(s): %s; this base snapshot cannot be restored", len(damaged), examples(damaged)))
		}
		if len(missing) == 0 && len(damaged) == 0 {
			n := m.Name()
			usable = append(usable, snapshot.ManifestInfo{Key: key, Timeline: n.Timeline, Index: n.Index, ID: n.ID})
			read[key] = manifestResult{m: m}
		}
	}
	return usable, read, nil
}

func hasChunk(m map[segments.Digest]int64, d segments.Digest) bool {
	_, ok := m[d]
	return ok
}

// examples shows up to 3 items of a list.
func examples(items []string) string {
	s := strings.Join(items[:min(len(items), 3)], ", ")
	if len(items) > 3 {
		s += ", ..."
	}
	return s
}

// verifyPoints reads every restore point record and plans a restore to
// each from what pl holds (the intact objects).
func (r *Report) verifyPoints(ctx context.Context, st backends.Store, keys []string, pl *planner) error {
	for _, key := range keys {
		name, _ := segments.ParsePointKey(key)
		p, err := readPoint(ctx, st, key, name)
		if err != nil {
			problem, ok := dataProblem(err)
			if !ok {
				return err
			}
			r.damage(key, problem)
			continue
		}
		if len(pl.tls.ids) == 0 {
			r.UnrestorablePoints = append(r.UnrestorablePoints, Damage{Key: key, Problem: "the store holds no timeline record"})
			continue
		}
		pl.t, pl.notes, pl.rejected, pl.timeScan = Target{Index: p.Index, Timeline: p.Timeline}, nil, nil, nil
		if _, err := pl.plan(ctx); err != nil {
			if !isPlanProblem(err) {
				return err
			}
			r.UnrestorablePoints = append(r.UnrestorablePoints, Damage{Key: key,
				Problem: fmt.Sprintf("point %q (timeline %d, index %d): %v", p.Name, p.Timeline, p.Index, err)})
		}
	}
	return nil
}

// isPlanProblem tells a restore that cannot be planned from the data from a
// store failure.
func isPlanProblem(err error) bool {
	for _, e := range []error{ErrNotRestorable, ErrMissingSegments, ErrBrokenHistory, ErrCorrupt, ErrConflict, segments.ErrUnknownVersion, ErrBadTarget, backends.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (r *Report) damage(key, problem string) {
	r.Damaged = append(r.Damaged, Damage{Key: key, Problem: problem})
}

// dataProblem tells damage (the object is wrong or gone) from a store
// failure, and words the damage.
func dataProblem(err error) (string, bool) {
	switch {
	case errors.Is(err, segments.ErrCorrupt), errors.Is(err, segments.ErrUnknownVersion):
		return err.Error(), true
	case backends.IsNotFound(err):
		return "listed but gone when read: " + err.Error(), true
	}
	return "", false
}

// verifySegments decodes every segment, verifyParallel at a time, and
// returns which are intact (by position in segs). Damage goes into the
// report; a store failure stops the walk and is returned.
func (r *Report) verifySegments(ctx context.Context, st backends.Store, segs []SegmentInfo, prog Progress) ([]bool, error) {
	intact := make([]bool, len(segs))
	err := r.checkAll(ctx, len(segs), func(i int) string { return segs[i].Key }, func(i int) { prog.Add(1, segs[i].Size) },
		func(ctx context.Context, i int) (func(), error) {
			entries, err := verifySegment(ctx, st, segs[i])
			if err != nil {
				return nil, err
			}
			return func() { intact[i] = true; r.Entries += entries }, nil
		})
	if err != nil {
		return nil, err
	}
	return intact, nil
}

// verifySegment reads one segment in full. Store failures come back as
// they are; everything wrong with the object wraps segments.ErrCorrupt.
func verifySegment(ctx context.Context, st backends.Store, s SegmentInfo) (uint64, error) {
	rc, err := st.Get(ctx, s.Key, 0, -1)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", s.Key, err)
	}
	defer rc.Close()
	cr := &countReader{r: &ctxReader{ctx: ctx, r: rc}}
	rd, err := segments.NewReader(bufio.NewReaderSize(cr, 256<<10))
	if err != nil {
		return 0, readProblem(cr, s.Key, err)
	}
	defer rd.Close()
	if err := checkName(s.Key, s.Name, rd.Header()); err != nil {
		return 0, err
	}
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, readProblem(cr, s.Key, err)
		}
	}
	if cr.n != s.Size {
		return 0, fmt.Errorf("%w: %d bytes read, the listing says %d", segments.ErrCorrupt, cr.n, s.Size)
	}
	return rd.Header().Count, nil
}

// readProblem keeps a failed read of the store apart from corruption: the
// segment reader words both as corruption.
func readProblem(cr *countReader, key string, err error) error {
	if cr.err != nil {
		return fmt.Errorf("read %s: %w", key, cr.err)
	}
	return err
}

type countReader struct {
	r   io.Reader
	n   int64
	err error // the first error other than io.EOF
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && c.err == nil {
		c.err = err
	}
	return n, err
}
