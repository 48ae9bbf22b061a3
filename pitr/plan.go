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
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// Target says what to restore: the latest entry, an entry index, or the
// state at a time, on a timeline (0: the newest). At most one of Latest,
// Index and Time may be set; the zero Target means Latest.
type Target struct {
	Latest   bool
	Index    uint64
	Time     time.Time
	Timeline uint32
}

type targetKind int

const (
	targetLatest targetKind = iota
	targetIndex
	targetTime
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
	if n > 1 {
		return 0, fmt.Errorf("%w: choose one of --latest, --index and --time", ErrBadTarget)
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
	default:
		s = "latest"
	}
	if t.Timeline != 0 {
		s += fmt.Sprintf(" on timeline %d", t.Timeline)
	}
	return s
}

// Plan is a restore decided before anything is written: the log will hold
// entries From..To of Timeline's history, taken from Segments in order.
type Plan struct {
	Store    string              // the store planned from, for messages
	Target   Target              // what was asked for
	Timeline uint32              // the timeline restored
	History  []segments.Timeline // Timeline's chain of records, root first
	From, To uint64              // the restored log's first and last index
	Spans    []Span              // which timeline supplies which entries, in order
	Segments []PlannedSegment    // in index order
	Format   wal.Format          // the source log's format, from the segments
	Bytes    int64               // total size of Segments
	Notes    []string            // what the user should know (lost entries, skipped keys)
}

// PlannedSegment is a segment a restore fetches and the entries it uses.
type PlannedSegment struct {
	Key      string
	Name     segments.SegmentName
	Size     int64 // from the listing; the fetched object must match it
	Timeline uint32
	From, To uint64 // entries used from it
}

// Entries is the number of entries the plan restores.
func (p *Plan) Entries() uint64 { return p.To - p.From + 1 }

// planner holds what MakePlan learned from the store.
type planner struct {
	st    backends.Store
	t     Target
	tls   *timelineSet
	segs  map[uint32][]SegmentInfo
	notes []string
}

// MakePlan decides a restore of t from st. It reads timeline records and
// segment listings, the header of the first planned segment (for the log
// format) and, for a time target, the segment holding that time. Every
// problem that would stop a restore is an error here, before anything is
// written.
func MakePlan(ctx context.Context, st backends.Store, t Target) (*Plan, error) {
	p, err := makePlan(ctx, st, t)
	if err != nil {
		if errors.Is(err, ErrNoBackup) {
			return nil, err
		}
		return nil, fmt.Errorf("plan restore (%s) from %s: %w", t, st, err)
	}
	return p, nil
}

func makePlan(ctx context.Context, st backends.Store, t Target) (*Plan, error) {
	kind, err := t.kind()
	if err != nil {
		return nil, err
	}
	tls, err := loadTimelines(ctx, st)
	if err != nil {
		return nil, err
	}
	if len(tls.ids) == 0 {
		return nil, fmt.Errorf("%w in %s (no timelines/ objects); check the URL/prefix", ErrNoBackup, st)
	}
	pl := &planner{st: st, t: t, tls: tls, segs: map[uint32][]SegmentInfo{}}
	if len(tls.ignored) > 0 {
		pl.note(ignoredNote(segments.TimelinesPrefix, tls.ignored))
	}
	tl := t.Timeline
	if tl == 0 {
		tl = tls.newest()
	}
	hist, err := tls.history(tl)
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
	}
	if err != nil {
		return nil, err
	}
	spans, notes, err := tls.resolve(tl, n, false)
	if err != nil {
		return nil, err
	}
	for _, s := range notes {
		pl.note(s)
	}
	p := &Plan{Store: st.String(), Target: t, Timeline: tl, History: hist, From: spans[0].From, To: n, Spans: spans}
	for _, sp := range spans {
		segs, err := pl.segments(ctx, sp.Timeline)
		if err != nil {
			return nil, err
		}
		used, holes := cover(sp.Timeline, segs, sp.From, sp.To)
		if len(holes) > 0 {
			return nil, pl.missing(holes[0], p.From)
		}
		p.Segments = append(p.Segments, used...)
	}
	for _, ps := range p.Segments {
		p.Bytes += ps.Size
	}
	h, err := readHeader(ctx, st, p.Segments[0])
	if err != nil {
		return nil, err
	}
	p.Format = wal.Format(h.SourceFormat)
	if p.Format != wal.FormatBinary && p.Format != wal.FormatJSON {
		return nil, fmt.Errorf("segment %s: %w: unknown source log format %d", p.Segments[0].Key, ErrCorrupt, h.SourceFormat)
	}
	p.Notes = pl.notes
	return p, nil
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

// segments lists a timeline's segments once per plan.
func (pl *planner) segments(ctx context.Context, tl uint32) ([]SegmentInfo, error) {
	if segs, ok := pl.segs[tl]; ok {
		return segs, nil
	}
	prefix := segments.TimelinePrefix(tl)
	segs, ignored, err := listSegments(ctx, pl.st, prefix)
	if err != nil {
		return nil, err
	}
	if len(ignored) > 0 {
		pl.note(ignoredNote(prefix, ignored))
	}
	pl.segs[tl] = segs
	return segs, nil
}

// latest returns the last entry of tl's segments; a hole among them is an
// error naming it and the last entry before it.
func (pl *planner) latest(ctx context.Context, tl uint32) (uint64, error) {
	rec := pl.tls.recs[tl]
	segs, err := pl.segments(ctx, tl)
	if err != nil {
		return 0, err
	}
	if len(segs) == 0 {
		if rec.Parent == 0 || rec.ForkIndex == 0 {
			return 0, fmt.Errorf("%w: timeline %d has no segments yet: nothing to restore", ErrMissingSegments, tl)
		}
		pl.note(fmt.Sprintf("timeline %d has no segments yet: its latest state is its parent %d's history up to the fork at entry %d", tl, rec.Parent, rec.ForkIndex))
		return rec.ForkIndex, nil
	}
	last, hole := lastContiguous(tl, segs, rec.StartIndex)
	if last < rec.StartIndex {
		end := rec.StartIndex
		if segs[0].Name.First > rec.StartIndex {
			end = segs[0].Name.First - 1
		}
		return 0, pl.missing(Span{Timeline: tl, From: rec.StartIndex, To: end}, rec.StartIndex)
	}
	if hole != nil {
		// Latest means everything shipped; a hole makes that impossible,
		// and stopping short silently would hide lost entries.
		return 0, pl.missing(*hole, rec.StartIndex)
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

func ignoredNote(prefix string, keys []string) string {
	ex := keys[:min(len(keys), 3)]
	return fmt.Sprintf("ignored %d object(s) under %s that are not walship keys (e.g. %q); walship verify reports them", len(keys), prefix, ex)
}

// readHeader reads and checks the header of a planned segment: only its
// first bytes are fetched.
func readHeader(ctx context.Context, st backends.Store, ps PlannedSegment) (segments.Header, error) {
	rc, err := st.Get(ctx, ps.Key, 0, segments.HeaderSizeV1)
	if err != nil {
		return segments.Header{}, fetchError(ps.Key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, segments.HeaderSizeV1))
	if err != nil {
		return segments.Header{}, fmt.Errorf("read header of %s: %w", ps.Key, err)
	}
	r, err := segments.NewReader(bytes.NewReader(b))
	if err != nil {
		return segments.Header{}, fmt.Errorf("segment %s: %w", ps.Key, err)
	}
	h := r.Header()
	r.Close()
	return h, checkName(ps.Key, ps.Name, h)
}

// checkName makes sure a segment's header says what its key says: a
// segment filed under the wrong key is corrupt.
func checkName(key string, name segments.SegmentName, h segments.Header) error {
	if got := segments.NameOf(h); got != name {
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
