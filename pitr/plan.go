package pitr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/internal/spill"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
	"github.com/walship/walship/wal"
)

// Target says what to restore: the latest entry, an entry index, the state
// at a time, or a named restore point, on a timeline (0: the newest; a
// point carries its own). At most one of Latest, Index, Time and Point may
// be set; the zero Target means Latest.
//
// A restore starts from the newest base snapshot on the target's history at
// or before the target's index, unless NoBase is set; without one it
// replays the log from the history's start.
type Target struct {
	Latest   bool
	Index    uint64
	Time     time.Time
	Point    string // name of a restore point (segments.Point)
	Timeline uint32
	NoBase   bool // never use a base snapshot: replay from the history's start
}

type targetKind int

const (
	targetLatest targetKind = iota
	targetIndex
	targetTime
	targetPoint
)

func (t Target) kind() (targetKind, error) {
	n := 0
	k := targetLatest
	if t.Latest {
		n++
	}
	if t.Index != 0 {
		n++
		k = targetIndex
	}
	if !t.Time.IsZero() {
		n++
		k = targetTime
	}
	if t.Point != "" {
		n++
		k = targetPoint
	}
	if n > 1 {
		return 0, fmt.Errorf("%w: choose one of --latest, --index, --time and --point", ErrBadTarget)
	}
	if k == targetPoint {
		if err := segments.ValidPointName(t.Point); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrBadTarget, err)
		}
	}
	return k, nil
}

// String describes the target for messages.
func (t Target) String() string {
	var s string
	switch k, _ := t.kind(); k {
	case targetIndex:
		s = fmt.Sprintf("index %d", t.Index)
	case targetTime:
		s = "time " + t.Time.UTC().Format(time.RFC3339Nano)
	case targetPoint:
		s = fmt.Sprintf("point %q", t.Point)
	default:
		s = "latest"
	}
	if t.Timeline != 0 {
		s += fmt.Sprintf(" on timeline %d", t.Timeline)
	}
	if t.NoBase {
		s += " without a base snapshot"
	}
	return s
}

// Plan is a restore decided before anything is written: the log will hold
// entries From..To of Timeline's history, taken from Segments in order.
// With a Base, the base's files make the data directory and From is
// Base.Index+1; when the target is the base's own index the log is empty
// (From = To+1) and starts at To+1.
type Plan struct {
	Store    string              // the store planned from, for messages
	Target   Target              // what was asked for
	Point    *segments.Point     // the restore point the target named, if any
	Timeline uint32              // the timeline restored
	History  []segments.Timeline // Timeline's chain of records, root first
	Base     *PlannedBase        // the base snapshot restored first; nil: replay from the history's start
	From, To uint64              // the restored log's first and last index
	Spans    []Span              // which timeline supplies which entries, in order
	Segments PlannedSegments     // in index order
	Format   wal.Format          // the source log's format, from the segments (FormatAuto if none was read)
	Bytes    int64               // total size of Segments
	Estimate time.Duration       // the restore's expected duration: from Rates once measured, else a guess (EstimateBytesPerSec)
	Rates    *Rates              // what Measure measured; nil: Estimate is a guess
	Notes    []string            // what the user should know (lost entries, skipped keys, bases not used)
}

// Entries is the number of entries the plan restores (0 when the base
// holds the target).
func (p *Plan) Entries() uint64 { return p.To - p.From + 1 }

// TotalBytes is what the restore fetches: the segments and the base's
// chunks.
func (p *Plan) TotalBytes() int64 {
	n := p.Bytes
	if p.Base != nil {
		n += p.Base.FetchBytes
	}
	return n
}

// planner holds what MakePlan learned from the store. Listings are read
// once and kept; Verify fills them in advance with intact objects only.
type planner struct {
	st    backends.Store
	t     Target
	ids   []*crypt.Identity // open encrypted segments read while planning
	tls   *timelineSet
	segs  map[uint32]segSeq // listings, newest generations, sorted
	notes []string

	bases     []snapshot.ManifestInfo // snapshots/ listing; nil until listed
	basesRead bool
	chunks    map[segments.Digest]int64 // Verify's intact chunks and their stored sizes; nil: list for each base (chunkSizes)
	manifests map[string]manifestResult // manifests read, by key
	timeScan  []Span                    // entries of unknown time a time target passed over
	rejected  []string                  // why base snapshots were passed over
}

func newPlanner(st backends.Store, t Target, tls *timelineSet) *planner {
	return &planner{st: st, t: t, tls: tls, segs: map[uint32]segSeq{}, manifests: map[string]manifestResult{}}
}

// MakePlan decides a restore of t from st. It reads timeline records and
// segment listings, the header of the first planned segment (for the log
// format), for a time target the segment holding that time, for a point
// target the point's record, every segment that shares entries of the
// restored range with another one (they must agree, else ErrConflict), and, unless t.NoBase, the snapshots/
// listing, and the manifest of each base it considers and a chunks/ listing
// to find that base's chunks (see the
// package doc for which base is chosen). Every problem that would stop a
// restore is an error here, before anything is written, except damage
// inside chunks and segments, which Execute finds.
func MakePlan(ctx context.Context, st backends.Store, t Target) (*Plan, error) {
	return MakePlanWith(ctx, st, t, PlanOptions{})
}

// PlanOptions tune MakePlanWith.
type PlanOptions struct {
	// Identities open the encrypted segments planning decodes (a time
	// target's, overlapping ones); see segments.ReadOptions.
	Identities []*crypt.Identity
}

// MakePlanWith is MakePlan with options.
func MakePlanWith(ctx context.Context, st backends.Store, t Target, o PlanOptions) (*Plan, error) {
	p, err := makePlan(ctx, st, t, o.Identities)
	if err != nil {
		if errors.Is(err, ErrNoBackup) {
			return nil, err
		}
		return nil, fmt.Errorf("plan restore (%s) from %s: %w", t, st, err)
	}
	return p, nil
}

func makePlan(ctx context.Context, st backends.Store, t Target, ids []*crypt.Identity) (*Plan, error) {
	if _, err := t.kind(); err != nil {
		return nil, err
	}
	tls, err := loadTimelines(ctx, st)
	if err != nil {
		return nil, err
	}
	if len(tls.ids) == 0 {
		return nil, fmt.Errorf("%w in %s (no timelines/ objects); check the URL/prefix", ErrNoBackup, st)
	}
	pl := newPlanner(st, t, tls)
	defer pl.release()
	pl.ids = ids
	if tls.ignored.n > 0 {
		pl.note(ignoredNote(segments.TimelinesPrefix, tls.ignored))
	}
	return pl.plan(ctx)
}

// plan decides the restore of pl.t.
func (pl *planner) plan(ctx context.Context) (*Plan, error) {
	t := pl.t
	kind, err := t.kind()
	if err != nil {
		return nil, err
	}
	var point *segments.Point
	if kind == targetPoint {
		pt, err := LoadPoint(ctx, pl.st, t.Point)
		if err != nil {
			return nil, err
		}
		if t.Timeline != 0 && t.Timeline != pt.Timeline {
			return nil, fmt.Errorf("%w: restore point %q is on timeline %d, not %d; leave out --timeline", ErrBadTarget, pt.Name, pt.Timeline, t.Timeline)
		}
		point = &pt
	}
	tl := t.Timeline
	switch {
	case point != nil:
		tl = point.Timeline
	case tl == 0:
		tl = pl.tls.newest()
	}
	hist, err := pl.tls.history(tl)
	if err != nil {
		return nil, err
	}

	var n uint64
	switch kind {
	case targetLatest:
		n, err = pl.latest(ctx, tl)
	case targetIndex:
		n = t.Index
	case targetTime:
		n, err = pl.atTime(ctx, tl, t.Time)
	case targetPoint:
		n = point.Index
	}
	if err != nil {
		return nil, err
	}
	p := &Plan{Store: pl.st.String(), Target: t, Point: point, Timeline: tl, History: hist, To: n}

	var spans []Span
	var base *PlannedBase
	if t.NoBase {
		pl.note("--no-base: base snapshots are not used; the log is replayed from the history's start")
	} else if base, spans, err = pl.chooseBase(ctx, hist, n); err != nil {
		return nil, err
	}
	if base != nil {
		p.Base, p.From = base, base.Index+1
		pl.timeNotes(base.Index)
	} else {
		var notes []string
		spans, notes, err = pl.tls.resolve(tl, n, false)
		if err != nil {
			return nil, pl.withBaseHint(ctx, err, hist, n, n)
		}
		for _, s := range notes {
			pl.note(s)
		}
		p.From = spans[0].From
	}
	p.Spans = spans
	for _, sp := range spans {
		segs, err := pl.segments(ctx, sp.Timeline)
		if err != nil {
			return nil, err
		}
		holes, err := pl.cover(sp.Timeline, segs, sp.From, sp.To, func(ps PlannedSegment) bool {
			p.Segments.add(ps)
			p.Bytes += ps.Size
			return true
		})
		if err != nil {
			return nil, err
		}
		if len(holes) > 0 {
			return nil, pl.withBaseHint(ctx, pl.missing(holes[0], p.From), hist, n, holes[0].To)
		}
		// Where two segments hold the same entries, they must agree: else
		// two logs were shipped here and either choice is a guess.
		conflicts, err := compareOverlaps(ctx, pl.st, sp.Timeline, segs, sp.From, sp.To, pl.ids)
		if err != nil {
			return nil, err
		}
		if len(conflicts) > 0 {
			return nil, conflictError(conflicts[0])
		}
	}
	if err := p.Segments.Err(); err != nil {
		return nil, err
	}
	if p.Format, err = pl.format(ctx, p); err != nil {
		return nil, err
	}
	p.Estimate = estimate(p.TotalBytes(), p.objects())
	p.Notes = pl.notes
	return p, nil
}

// format reads the source log format from the header of the plan's first
// segment, or, when the log is empty (the base holds the target), from any
// segment of the history; FormatAuto if there is none (an empty log file
// is the same in both formats).
func (pl *planner) format(ctx context.Context, p *Plan) (wal.Format, error) {
	ps, ok := PlannedSegment{}, false
	if p.Segments.Len() > 0 {
		ps, ok = p.Segments.At(0), true
	} else {
		for i := len(p.History) - 1; i >= 0 && !ok; i-- {
			segs, err := pl.segments(ctx, p.History[i].ID)
			if err != nil {
				return 0, err
			}
			if segs.Len() > 0 {
				s := segs.At(segs.Len() - 1)
				ps, ok = PlannedSegment{Name: s.Name, Size: s.Size, Timeline: s.Name.Timeline, From: s.Name.First, To: s.Name.Last}, true
			}
		}
		if !ok {
			return wal.FormatAuto, nil
		}
	}
	h, err := readHeader(ctx, pl.st, ps)
	if err != nil {
		return 0, err
	}
	f := wal.Format(h.SourceFormat)
	if f != wal.FormatBinary && f != wal.FormatJSON {
		return 0, fmt.Errorf("segment %s: %w: unknown source log format %d", ps.Key(), ErrCorrupt, h.SourceFormat)
	}
	return f, nil
}

func (pl *planner) note(s string) {
	if !slices.Contains(pl.notes, s) {
		pl.notes = append(pl.notes, s)
	}
}

// timelineFlag repeats the user's --timeline in a suggested command.
func (pl *planner) timelineFlag() string {
	if pl.t.Timeline == 0 {
		return ""
	}
	return fmt.Sprintf("--timeline %d ", pl.t.Timeline)
}

// release frees the listings' tables once the plan is made.
func (pl *planner) release() {
	for _, s := range pl.segs {
		if t, ok := s.(*spill.Table[SegmentInfo]); ok {
			t.Release()
		}
	}
}

// segments lists a timeline's segments once per plan.
func (pl *planner) segments(ctx context.Context, tl uint32) (segSeq, error) {
	if segs, ok := pl.segs[tl]; ok {
		return segs, nil
	}
	prefix := segments.TimelinePrefix(tl)
	segs, ignored, err := listSegmentTable(ctx, pl.st, prefix)
	if err != nil {
		return nil, err
	}
	if ignored.n > 0 {
		pl.note(ignoredNote(prefix, ignored))
	}
	pl.segs[tl] = segs
	return segs, nil
}

// cover is cover over a listing of the plan's; a failed read of the
// listing's table is the error, whatever the walk made of it.
func (pl *planner) cover(tl uint32, segs segSeq, from, to uint64, use func(PlannedSegment) bool) ([]Span, error) {
	holes := cover(tl, segs, from, to, use)
	return holes, segs.Err()
}

// latest returns the last entry shipped on tl: the last entry of its
// segments, or, with none, the fork point its parent supplies. Holes before
// it are not judged here: the plan's segment cover reports them, unless a
// base snapshot after them means the restore does not need them.
func (pl *planner) latest(ctx context.Context, tl uint32) (uint64, error) {
	rec := pl.tls.recs[tl]
	segs, err := pl.segments(ctx, tl)
	if err != nil {
		return 0, err
	}
	if segs.Len() == 0 {
		if rec.Parent == 0 || rec.ForkIndex == 0 {
			return 0, fmt.Errorf("%w: timeline %d has no segments yet: nothing to restore", ErrMissingSegments, tl)
		}
		pl.note(fmt.Sprintf("timeline %d has no segments yet: its latest state is its parent %d's history up to the fork at entry %d", tl, rec.Parent, rec.ForkIndex))
		return rec.ForkIndex, nil
	}
	var last uint64
	for i := range segs.Len() {
		last = max(last, segs.At(i).Name.Last)
	}
	if err := segs.Err(); err != nil {
		return 0, err
	}
	if last < rec.StartIndex {
		// Only segments below the timeline's own start: none of its own
		// entries is stored.
		return 0, pl.missing(Span{Timeline: tl, From: rec.StartIndex, To: rec.StartIndex}, rec.StartIndex)
	}
	return last, nil
}

// missing is the error for entries no segment holds. from is the first entry
// of the restore, to tell whether anything before the hole is restorable.
func (pl *planner) missing(h Span, from uint64) error {
	msg := fmt.Sprintf("timeline %d: no stored segment holds entries %d..%d", h.Timeline, h.From, h.To)
	if h.From > from {
		msg += fmt.Sprintf("; restorable instead: %s--index %d (the last entry before them)", pl.timelineFlag(), h.From-1)
	} else {
		msg += "; no entry before them is stored on this history, so nothing up to the target can be restored (walship verify lists what is stored)"
	}
	return fmt.Errorf("%w: %s", ErrMissingSegments, msg)
}

func ignoredNote(prefix string, keys ignoredKeys) string {
	return fmt.Sprintf("ignored %d object(s) under %s that are not walship keys (e.g. %q); walship verify reports them", keys.n, prefix, keys.ex)
}

// readHeader reads and checks the header of a planned segment: only its
// first bytes are fetched (segments.MaxHeaderSize: one request, whatever
// the version), and nothing is decrypted.
func readHeader(ctx context.Context, st backends.Store, ps PlannedSegment) (segments.Header, error) {
	rc, ps, err := getSegment(ctx, st, ps, 0, int64(segments.MaxHeaderSize))
	if err != nil {
		return segments.Header{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(segments.MaxHeaderSize)))
	if err != nil {
		return segments.Header{}, fmt.Errorf("read header of %s: %w", ps.Key(), err)
	}
	h, _, err := segments.ReadHeader(bytes.NewReader(b))
	if err != nil {
		return segments.Header{}, fmt.Errorf("segment %s: %w", ps.Key(), err)
	}
	return h, checkName(ps.Key(), ps.Name, h)
}

// checkName makes sure a segment's header says what its key says: a
// segment filed under the wrong key is corrupt.
func checkName(key string, name segments.SegmentName, h segments.Header) error {
	if got := segments.NameOf(h); got != name.Family() {
		return fmt.Errorf("segment %s: %w: its header says timeline %d, entries %d..%d, max time %d, but its key says timeline %d, entries %d..%d, max time %d",
			key, ErrCorrupt, got.Timeline, got.First, got.Last, got.MaxTime, name.Timeline, name.First, name.Last, name.MaxTime)
	}
	return nil
}

// fetchError explains a failed Get of a segment the plan listed.
func fetchError(key string, err error) error {
	if backends.IsNotFound(err) {
		return fmt.Errorf("%w: segment %s was listed but is gone (deleted after the restore was planned?); plan the restore again: %w", ErrMissingSegments, key, err)
	}
	return fmt.Errorf("fetch %s: %w", key, err)
}

// describeSpans is "1..200 from timeline 1, 201..350 from timeline 2".
func describeSpans(spans []Span) string {
	var parts []string
	for _, s := range spans {
		parts = append(parts, fmt.Sprintf("%d..%d from timeline %d", s.From, s.To, s.Timeline))
	}
	return strings.Join(parts, ", ")
}
