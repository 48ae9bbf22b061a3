package pitr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// maxRecordSize bounds a timeline record read from a store: a record is a
// few hundred bytes, so anything far larger is not one and is not read whole.
const maxRecordSize = 1 << 20

// Span is a run of consecutive entries that one timeline supplies to a
// restore.
type Span struct {
	Timeline uint32 `json:"timeline"`
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
}

// timelineSet is what a store's timelines/ listing holds.
type timelineSet struct {
	recs    map[uint32]segments.Timeline
	bad     map[uint32]error // records whose key parses but whose body does not
	ids     []uint32         // every timeline with a well-formed key, ascending
	ignored ignoredKeys      // keys under timelines/ that are not record keys
}

// loadTimelines reads and decodes every timeline record. Keys that are not
// record keys are set aside, never read; records that do not decode are
// remembered, and only an error if the restore needs them.
func loadTimelines(ctx context.Context, st backends.Store) (*timelineSet, error) {
	return loadTimelinesWith(ctx, st, nil)
}

// loadTimelinesWith is loadTimelines that opens encrypted records with ids
// where one matches (list shows their reason and time); a record no
// identity opens gives its clear fields, which is all planning uses.
func loadTimelinesWith(ctx context.Context, st backends.Store, ids []*crypt.Identity) (*timelineSet, error) {
	s := &timelineSet{recs: map[uint32]segments.Timeline{}, bad: map[uint32]error{}}
	var keys []string
	err := st.List(ctx, segments.TimelinesPrefix, "", func(oi backends.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", segments.TimelinesPrefix, st, err)
	}
	for _, key := range keys {
		id, err := segments.ParseTimelineKey(key)
		if err != nil {
			s.ignored.add(key)
			continue
		}
		s.ids = append(s.ids, id)
		rec, err := readTimeline(ctx, st, key, id, ids)
		if err != nil {
			if !errors.Is(err, segments.ErrCorrupt) && !errors.Is(err, segments.ErrUnknownVersion) {
				return nil, err
			}
			s.bad[id] = err
			continue
		}
		s.recs[id] = rec
	}
	slices.Sort(s.ids)
	s.ids = slices.Compact(s.ids)
	return s, nil
}

// readTimeline fetches and decodes one record and checks that it describes
// the timeline its key names. Decoding problems wrap segments.ErrCorrupt.
func readTimeline(ctx context.Context, st backends.Store, key string, id uint32, ids []*crypt.Identity) (segments.Timeline, error) {
	var rec segments.Timeline
	var err error
	for _, m := range multi.ReplicasOf(st) { // first intact copy wins
		if rec, err = readTimelineFrom(ctx, m.Store, key, id, ids); err == nil || ctx.Err() != nil {
			return rec, err
		}
	}
	return rec, err
}

func readTimelineFrom(ctx context.Context, st backends.Store, key string, id uint32, ids []*crypt.Identity) (segments.Timeline, error) {
	b, err := readSmall(ctx, st, key, maxRecordSize)
	if err != nil {
		return segments.Timeline{}, err
	}
	rec, _, err := segments.DecodeTimelineWith(b, ids)
	if errors.Is(err, crypt.ErrNoIdentity) {
		rec, err = segments.DecodeTimeline(b)
	}
	if err != nil {
		return rec, fmt.Errorf("timeline record %s: %w", key, err)
	}
	if rec.ID != id {
		return rec, fmt.Errorf("timeline record %s: %w: it describes timeline %d", key, segments.ErrCorrupt, rec.ID)
	}
	return rec, nil
}

// readSmall reads a whole object of at most limit bytes.
func readSmall(ctx context.Context, st backends.Store, key string, limit int64) ([]byte, error) {
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: %w: object is larger than %d bytes", key, segments.ErrCorrupt, limit)
	}
	return b, nil
}

// record returns timeline id's record, or an error naming its key.
func (s *timelineSet) record(id uint32) (segments.Timeline, error) {
	if rec, ok := s.recs[id]; ok {
		return rec, nil
	}
	if err, ok := s.bad[id]; ok {
		return segments.Timeline{}, fmt.Errorf("%w: %w; run walship verify, or restore another timeline with --timeline", ErrBrokenHistory, err)
	}
	return segments.Timeline{}, fmt.Errorf("%w: the store has no record %s (timelines: %v)", ErrBrokenHistory, segments.TimelineKey(id), s.ids)
}

// newest returns the highest timeline ID.
func (s *timelineSet) newest() uint32 { return s.ids[len(s.ids)-1] }

// history returns the chain of records from the root to tl, root first.
func (s *timelineSet) history(tl uint32) ([]segments.Timeline, error) {
	var chain []segments.Timeline
	for id := tl; id != 0; {
		rec, err := s.record(id)
		if err != nil {
			if id == tl {
				return nil, fmt.Errorf("timeline %d: %w", tl, err)
			}
			child := chain[len(chain)-1]
			return nil, fmt.Errorf("timeline %d names parent %d, which cannot be followed: %w", child.ID, id, err)
		}
		if len(chain) > 0 && rec.ID >= chain[len(chain)-1].ID {
			// Decoding rejects Parent >= ID, so this is a guard against loops only.
			return nil, fmt.Errorf("%w: timeline %d has parent %d", ErrBrokenHistory, chain[len(chain)-1].ID, rec.ID)
		}
		chain = append(chain, rec)
		id = rec.Parent
	}
	slices.Reverse(chain)
	return chain, nil
}

// gapNote says why a timeline with a gap starts where it does.
func gapNote(rec segments.Timeline) string {
	if rec.ForkIndex == 0 {
		return fmt.Sprintf("timeline %d starts at entry %d and claims no entry of timeline %d (%s), so the restored log starts at %d, as the source did",
			rec.ID, rec.StartIndex, rec.Parent, rec.Reason, rec.StartIndex)
	}
	return fmt.Sprintf("timeline %d starts at entry %d: entries %d..%d were truncated by the database before walship shipped them, so the restored log starts at %d, as the source did",
		rec.ID, rec.StartIndex, rec.ForkIndex+1, rec.StartIndex-1, rec.StartIndex)
}

// resolve returns the spans that make up timeline tl's log ending at entry n,
// in index order. tl's history must have been checked with history.
//
// A timeline supplies its own entries from StartIndex; entries up to
// ForkIndex come from its parent, recursively. A gap (StartIndex >
// ForkIndex+1) ends the walk: the log restored on that timeline starts at
// StartIndex, as the source did after its TruncateFront. With crossGaps the
// walk goes on into the parent, for a time target that must see every entry
// in index order along the history.
func (s *timelineSet) resolve(tl uint32, n uint64, crossGaps bool) ([]Span, []string, error) {
	var spans []Span
	var notes []string
	fromFork := false // n came from a child's ForkIndex, not from the target
	for {
		rec := s.recs[tl]
		if n >= rec.StartIndex {
			spans = append(spans, Span{Timeline: tl, From: rec.StartIndex, To: n})
			if rec.Parent == 0 {
				break
			}
			if rec.HasGap() {
				notes = append(notes, gapNote(rec))
				if !crossGaps {
					break
				}
			}
			if rec.ForkIndex == 0 {
				break // the child rewrote the whole log: nothing is shared
			}
			tl, n, fromFork = rec.Parent, rec.ForkIndex, true
			continue
		}
		if rec.Parent == 0 {
			if fromFork {
				// The child forked below where walship first saw the log:
				// the shared entries before it were never shipped.
				notes = append(notes, fmt.Sprintf("entries 1..%d were never shipped (walship first saw the log at entry %d of timeline %d)", n, rec.StartIndex, tl))
				break
			}
			return nil, nil, fmt.Errorf("%w: entry %d is before the first entry walship shipped on timeline %d (entry %d); restorable instead: --index >= %d",
				ErrNotRestorable, n, tl, rec.StartIndex, rec.StartIndex)
		}
		if n <= rec.ForkIndex {
			tl = rec.Parent
			continue
		}
		if rec.ForkIndex == 0 {
			return nil, nil, fmt.Errorf("%w: entry %d is before timeline %d's first entry %d, and timeline %d claims no entry of its parent %d (%s); restorable instead: --timeline %d --index >= %d, or the parent's own history with --timeline %d",
				ErrNotRestorable, n, tl, rec.StartIndex, tl, rec.Parent, rec.Reason, tl, rec.StartIndex, rec.Parent)
		}
		return nil, nil, fmt.Errorf("%w: entry %d of timeline %d was lost: entries %d..%d were truncated by the database before walship shipped them; restorable instead: --timeline %d --index %d (the last entry before the loss) or --timeline %d --index >= %d",
			ErrNotRestorable, n, tl, rec.ForkIndex+1, rec.StartIndex-1, rec.Parent, rec.ForkIndex, tl, rec.StartIndex)
	}
	slices.Reverse(spans)
	slices.Reverse(notes)
	return spans, notes, nil
}
