package pitr

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// SegmentInfo is one segment object as a listing shows it: its key, its
// size and what the key says about it. Nothing in it was read from the
// object itself.
//
// The key is not kept: it is Name's canonical form (listSegments takes only
// keys that print back from their names), so 100,000 listed segments hold
// no 100,000 key strings.
type SegmentInfo struct {
	Size int64
	Name segments.SegmentName
}

// Key returns the segment's object key.
func (s SegmentInfo) Key() string { return s.Name.Key() }

// MarshalJSON writes the key too: {"key","size","name"}.
func (s SegmentInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key  string               `json:"key"`
		Size int64                `json:"size"`
		Name segments.SegmentName `json:"name"`
	}{s.Key(), s.Size, s.Name})
}

// MaxTime returns the newest entry time the key names.
func (s SegmentInfo) MaxTime() time.Time { return time.Unix(0, s.Name.MaxTime).UTC() }

// ListTimelines returns every timeline record in the store, by ID. Keys under
// timelines/ that are not record keys are skipped (Verify reports them); a
// record that does not decode is an error naming its key.
func ListTimelines(ctx context.Context, st backends.Store) ([]segments.Timeline, error) {
	return ListTimelinesWith(ctx, st, nil)
}

// ListTimelinesWith is ListTimelines that opens encrypted records with ids
// where one matches; the others give their clear fields only (no reason,
// zero time).
func ListTimelinesWith(ctx context.Context, st backends.Store, ids []*crypt.Identity) ([]segments.Timeline, error) {
	set, err := loadTimelinesWith(ctx, st, ids)
	if err != nil {
		return nil, err
	}
	out := make([]segments.Timeline, 0, len(set.ids))
	for _, id := range set.ids {
		rec, err := set.record(id)
		if err != nil {
			return nil, fmt.Errorf("list timelines in %s: %w", st, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// ListSegments returns the segments of one timeline (0: of every timeline),
// in key order: by timeline, then first index. Keys under segments/ that are
// not segment keys are skipped (Verify reports them).
func ListSegments(ctx context.Context, st backends.Store, timeline uint32) ([]SegmentInfo, error) {
	prefix := segments.SegmentsPrefix
	if timeline != 0 {
		prefix = segments.TimelinePrefix(timeline)
	}
	segs, _, err := listSegments(ctx, st, prefix)
	return segs, err
}

// EachSegment calls fn for the segments of one timeline (0: of every
// timeline) in the order ListSegments returns them, as the store lists
// them: nothing is held but the generations of one segment, so memory stays
// flat however many segments the store holds. Keys under segments/ that
// are not segment keys are skipped; a listing out of key order (a store
// breaking the List contract) is an error.
func EachSegment(ctx context.Context, st backends.Store, timeline uint32, fn func(SegmentInfo) error) error {
	prefix := segments.SegmentsPrefix
	if timeline != 0 {
		prefix = segments.TimelinePrefix(timeline)
	}
	// One family at a time: its generations are neighbours in key order,
	// but ".g10" sorts before ".g2" there.
	var run []SegmentInfo
	flush := func() error {
		slices.SortFunc(run, compareSegments)
		for _, s := range run {
			if err := fn(s); err != nil {
				return err
			}
		}
		run = run[:0]
		return nil
	}
	err := st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
		name, err := segments.ParseSegmentKey(oi.Key)
		if err != nil {
			return nil
		}
		s := SegmentInfo{Size: oi.Size, Name: name}
		if len(run) > 0 && run[0].Name.Family() != name.Family() {
			if compareSegments(SegmentInfo{Name: run[0].Name.Family()}, SegmentInfo{Name: name.Family()}) > 0 {
				return fmt.Errorf("%w: %s listed %s after %s", errListOrder, st, oi.Key, run[0].Key())
			}
			if err := flush(); err != nil {
				return err
			}
		}
		run = append(run, s)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("list %s in %s: %w", prefix, st, err)
	}
	return nil
}

var errListOrder = errors.New("store listing not in key order")

// listSegments lists and parses the segment keys under prefix, sorted by
// (timeline, first, last, newest time, generation). Keys that do not parse
// are counted apart (with a few examples) and are never read. Planning
// lists with listSegmentTable instead, which keeps the newest generations
// only and not in memory.
func listSegments(ctx context.Context, st backends.Store, prefix string) (segs []SegmentInfo, ignored ignoredKeys, err error) {
	sorted := true
	err = st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
		// A parsed name prints back to the very key, so no two keys can
		// name one segment.
		name, err := segments.ParseSegmentKey(oi.Key)
		if err != nil {
			ignored.add(oi.Key)
			return nil
		}
		s := SegmentInfo{Size: oi.Size, Name: name}
		if n := len(segs); n > 0 {
			sorted = sorted && compareSegments(segs[n-1], s) < 0
		}
		segs = append(segs, s)
		return nil
	})
	if err != nil {
		return nil, ignoredKeys{}, fmt.Errorf("list %s in %s: %w", prefix, st, err)
	}
	if !sorted { // not in key order
		sortSegments(segs)
	}
	return slices.Clip(segs), ignored, nil
}

// ignoredKeys counts keys a listing skipped and keeps the first few, for a
// note: a prefix full of foreign objects costs no memory per object.
type ignoredKeys struct {
	n  int
	ex []string
}

func (k *ignoredKeys) add(key string) {
	if k.n++; len(k.ex) < 3 {
		k.ex = append(k.ex, key)
	}
}

// sortSegments sorts by (timeline, first, last), then by newest time and
// generation, so the generations of one segment are neighbours, lowest
// first (in key order ".g1.wseg" comes before ".wseg").
func sortSegments(segs []SegmentInfo) { slices.SortFunc(segs, compareSegments) }

func compareSegments(a, b SegmentInfo) int {
	return cmp.Or(cmp.Compare(a.Name.Timeline, b.Name.Timeline),
		cmp.Compare(a.Name.First, b.Name.First), cmp.Compare(a.Name.Last, b.Name.Last),
		cmp.Compare(a.Name.MaxTime, b.Name.MaxTime), cmp.Compare(a.Name.Gen, b.Name.Gen))
}

// newestGenerations keeps, of each family of segments (names that differ
// only in their generation: copies of one segment, see
// segments.SegmentName), the highest generation. segs must be sorted by
// sortSegments; a lower generation is a copy an interrupted
// walship migrate has not deleted yet, so restore and the comparison of
// overlaps use the newest.
func newestGenerations(segs []SegmentInfo) []SegmentInfo {
	out := segs[:0:0]
	for _, s := range segs {
		if n := len(out); n > 0 && out[n-1].Name.Family() == s.Name.Family() {
			out[n-1] = s
			continue
		}
		out = append(out, s)
	}
	return out
}

// SnapshotInfo is a stored base snapshot: what its key names and, when its
// manifest reads and verifies, what the manifest says; otherwise Problem
// says why not.
type SnapshotInfo struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"` // of the manifest object
	Timeline uint32    `json:"timeline"`
	Index    uint64    `json:"index"`
	ID       string    `json:"id"`
	Time     time.Time `json:"time,omitzero"`
	Method   string    `json:"method,omitempty"`
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"`
	Chunks   int       `json:"chunks"`
	// Encrypted: the manifest is sealed; Files and Method are not known
	// without an identity, and Chunks counts distinct chunks.
	Encrypted bool   `json:"encrypted,omitempty"`
	Problem   string `json:"problem,omitempty"`
}

// ListSnapshots returns the base snapshots in st by (timeline, index), each
// manifest read and verified (with several stores, the first intact copy).
// Keys under snapshots/ that are not manifest keys are skipped (Verify
// reports them); a manifest that does not read is listed with its Problem.
// The chunks are not read: walship verify does that.
func ListSnapshots(ctx context.Context, st backends.Store) ([]SnapshotInfo, error) {
	list, err := snapshot.List(ctx, st)
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotInfo, 0, len(list))
	for _, mi := range list {
		s := SnapshotInfo{Key: mi.Key, Size: mi.Size, Timeline: mi.Timeline, Index: mi.Index, ID: mi.ID}
		m, err := loadManifest(ctx, st, mi.Key, nil)
		if err != nil {
			problem, ok := dataProblem(err)
			if !ok {
				return nil, err
			}
			s.Problem = problem
		} else {
			s.Time, s.Method, s.Bytes = m.Time, string(m.Source.Method), m.TotalSize
			for _, f := range m.Files {
				if f.Type == segments.TypeFile {
					s.Files++
					s.Chunks += len(f.Chunks)
				}
			}
			if !m.Opened() { // encrypted: files and method sealed
				s.Encrypted, s.Chunks = true, len(m.ChunkRefs())
			}
		}
		out = append(out, s)
	}
	return out, nil
}
