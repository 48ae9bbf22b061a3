package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// readParallel is how many small records Plan reads at once.
const readParallel = 8

// maxRecordSize bounds a timeline or point record read from a store.
const maxRecordSize = 1 << 20

// segStats is what the listing of one timeline's segments tells prune.
// No segment is kept: a history of a million segments costs prune what one
// does. The segments to delete are listed again once the plan knows where
// each timeline is cut (segmentDeletions), from the first key to the cut.
type segStats struct {
	n    int    // segments listed
	last uint64 // the newest entry any of them holds
}

// windowWatch is what the segments/ listing looks for on behalf of the
// window: for each span of the newest timeline's history, the smallest
// first index of a segment inside the span that holds an entry at or after
// the window start ws (unix ns).
type windowWatch struct {
	ws    int64
	spans []span
	first []uint64 // per span; 0: no such segment (a first index is never 0)
}

func (w *windowWatch) see(n segments.SegmentName) {
	if w == nil || n.MaxTime < w.ws {
		return
	}
	for k, sp := range w.spans {
		if sp.tl != n.Timeline || n.Last < sp.from || n.First > sp.to {
			continue
		}
		if w.first[k] == 0 || n.First < w.first[k] {
			w.first[k] = n.First
		}
	}
}

// baseInfo is a snapshot manifest, read and verified.
type baseInfo struct {
	Key  string
	Size int64
	M    segments.SnapshotManifest
}

// pointInfo is a restore point record.
type pointInfo struct {
	Key  string
	Size int64
	P    segments.Point
}

// markerInfo is an in-progress snapshot marker.
type markerInfo struct {
	Key     string
	Size    int64
	Started time.Time // zero if unreadable
	Err     error     // why it could not be read (treated as fresh)
}

// inventory is what one listing per prefix and the records say the store
// holds. No segment body is ever read.
type inventory struct {
	segs    map[uint32]*segStats // per timeline
	window  *windowWatch         // nil: no window, or the newest history is broken
	tlKeys  map[uint32]backends.ObjectInfo
	recs    map[uint32]segments.Timeline
	bases   []baseInfo // key order: (timeline, index, id)
	points  []pointInfo
	markers []markerInfo
	chunks  map[string]int64 // chunk key -> size, keys that parse
	ignored foreignKeys      // keys under the walship prefixes that are not walship keys
}

// ErrUnreadable: a record prune must understand (timeline, manifest, point)
// does not decode, so prune cannot tell what it protects.
var ErrUnreadable = errors.New("record unreadable")

func list(ctx context.Context, st backends.Store, prefix string, fn func(backends.ObjectInfo)) error {
	err := st.List(ctx, prefix, "", func(oi backends.ObjectInfo) error {
		fn(oi)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s in %s: %w", prefix, st, err)
	}
	return nil
}

// loadInventory lists timelines/, snapshots/, chunks/, points/ and
// segments/ once each and reads every timeline record, manifest, point
// record and in-progress marker. Segments are listed last, once the
// records say which is the newest history: a window (ws > 0, unix ns)
// needs to know where on it the window starts (windowWatch).
func loadInventory(ctx context.Context, st backends.Store, ws int64) (*inventory, error) {
	inv := &inventory{segs: map[uint32]*segStats{}, tlKeys: map[uint32]backends.ObjectInfo{},
		recs: map[uint32]segments.Timeline{}, chunks: map[string]int64{}}
	var manifestKeys, pointKeys, markerKeys []backends.ObjectInfo
	steps := []struct {
		prefix string
		fn     func(backends.ObjectInfo)
	}{
		{segments.TimelinesPrefix, func(oi backends.ObjectInfo) {
			id, err := segments.ParseTimelineKey(oi.Key)
			if err != nil || segments.TimelineKey(id) != oi.Key {
				inv.ignored.add(oi.Key)
				return
			}
			inv.tlKeys[id] = oi
		}},
		{segments.SnapshotsPrefix, func(oi backends.ObjectInfo) {
			if _, err := segments.ParseSnapshotKey(oi.Key); err == nil {
				manifestKeys = append(manifestKeys, oi)
			} else if _, err := snapshot.ParseInProgressKey(oi.Key); err == nil {
				markerKeys = append(markerKeys, oi)
			} else {
				inv.ignored.add(oi.Key)
			}
		}},
		{segments.ChunksPrefix, func(oi backends.ObjectInfo) {
			if _, err := segments.ParseChunkKey(oi.Key); err != nil {
				inv.ignored.add(oi.Key)
				return
			}
			inv.chunks[oi.Key] = oi.Size
		}},
		{segments.PointsPrefix, func(oi backends.ObjectInfo) {
			if _, err := segments.ParsePointKey(oi.Key); err != nil {
				inv.ignored.add(oi.Key)
				return
			}
			pointKeys = append(pointKeys, oi)
		}},
	}
	for _, s := range steps {
		if err := list(ctx, st, s.prefix, s.fn); err != nil {
			return nil, err
		}
	}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readParallel)
	for id, oi := range inv.tlKeys {
		g.Go(func() error {
			rec, err := readTimeline(gctx, st, oi.Key, id)
			if err != nil {
				return err
			}
			mu.Lock()
			inv.recs[id] = rec
			mu.Unlock()
			return nil
		})
	}
	inv.bases = make([]baseInfo, len(manifestKeys))
	for i, oi := range manifestKeys {
		g.Go(func() error {
			m, err := snapshot.Load(gctx, st, oi.Key)
			if err != nil {
				return unreadable(gctx, err, "snapshot manifest", oi.Key)
			}
			inv.bases[i] = baseInfo{Key: oi.Key, Size: oi.Size, M: m}
			return nil
		})
	}
	inv.points = make([]pointInfo, len(pointKeys))
	for i, oi := range pointKeys {
		g.Go(func() error {
			p, err := readPoint(gctx, st, oi.Key)
			if err != nil {
				return err
			}
			inv.points[i] = pointInfo{Key: oi.Key, Size: oi.Size, P: p}
			return nil
		})
	}
	inv.markers = make([]markerInfo, len(markerKeys))
	for i, oi := range markerKeys {
		g.Go(func() error {
			inv.markers[i] = readMarker(gctx, st, oi)
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(inv.bases, func(a, b baseInfo) int { return strings.Compare(a.Key, b.Key) })
	slices.SortFunc(inv.points, func(a, b pointInfo) int { return strings.Compare(a.Key, b.Key) })

	if newest := inv.newest(); ws > 0 && newest != 0 {
		if h, err := inv.history(newest); err == nil { // else the plan reports it
			inv.window = &windowWatch{ws: ws, spans: h.spans, first: make([]uint64, len(h.spans))}
		}
	}
	err := list(ctx, st, segments.SegmentsPrefix, func(oi backends.ObjectInfo) {
		n, err := segments.ParseSegmentKey(oi.Key)
		if err != nil { // a parsed name prints back to the very key
			inv.ignored.add(oi.Key)
			return
		}
		ss := inv.segs[n.Timeline]
		if ss == nil {
			ss = &segStats{}
			inv.segs[n.Timeline] = ss
		}
		ss.n++
		ss.last = max(ss.last, n.Last)
		inv.window.see(n)
	})
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// newest is the newest timeline with a record (0: none).
func (inv *inventory) newest() uint32 {
	var id uint32
	for k := range inv.recs {
		id = max(id, k)
	}
	return id
}

// unreadable wraps a record's read error: a decoding problem is
// ErrUnreadable with advice, anything else (the store) passes through.
func unreadable(ctx context.Context, err error, what, key string) error {
	if ctx.Err() != nil || !(errors.Is(err, segments.ErrCorrupt) || errors.Is(err, segments.ErrUnknownVersion)) {
		return err
	}
	return fmt.Errorf("%w: %s %s: %v; prune cannot tell what it protects, so it deletes nothing: run walship verify, then repair or remove it",
		ErrUnreadable, what, key, err)
}

func readSmall(ctx context.Context, st backends.Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("read %s: %w: larger than %d bytes", key, segments.ErrCorrupt, maxRecordSize)
	}
	return b, nil
}

func readTimeline(ctx context.Context, st backends.Store, key string, id uint32) (segments.Timeline, error) {
	b, err := readSmall(ctx, st, key)
	if err != nil {
		return segments.Timeline{}, unreadable(ctx, err, "timeline record", key)
	}
	rec, err := segments.DecodeTimeline(b)
	if err == nil && rec.ID != id {
		err = fmt.Errorf("%w: it describes timeline %d", segments.ErrCorrupt, rec.ID)
	}
	if err != nil {
		return rec, unreadable(ctx, err, "timeline record", key)
	}
	return rec, nil
}

func readPoint(ctx context.Context, st backends.Store, key string) (segments.Point, error) {
	name, err := segments.ParsePointKey(key)
	if err != nil {
		return segments.Point{}, err
	}
	b, err := readSmall(ctx, st, key)
	if err != nil {
		return segments.Point{}, unreadable(ctx, err, "restore point", key)
	}
	p, err := segments.DecodePoint(b)
	if err == nil && p.Name != name {
		err = fmt.Errorf("%w: it names point %q", segments.ErrCorrupt, p.Name)
	}
	if err != nil {
		return p, unreadable(ctx, err, "restore point", key)
	}
	return p, nil
}

// readMarker reads an in-progress marker; one that cannot be read counts
// as fresh (it may belong to an upload under way).
func readMarker(ctx context.Context, st backends.Store, oi backends.ObjectInfo) markerInfo {
	m, err := snapshot.ReadInProgress(ctx, st, oi.Key)
	if err != nil {
		if backends.IsNotFound(err) {
			// Gone since the listing: the upload finished. Still count it
			// as fresh: its manifest may have been listed too late.
			return markerInfo{Key: oi.Key, Size: oi.Size, Err: errors.New("deleted while prune listed the store (an upload just finished)")}
		}
		return markerInfo{Key: oi.Key, Size: oi.Size, Err: err}
	}
	return markerInfo{Key: oi.Key, Size: oi.Size, Started: m.Started}
}

// fresh reports whether a marker holds chunk deletion back at now.
func (m markerInfo) fresh(now time.Time) bool {
	return m.Err != nil || now.Sub(m.Started) < snapshot.InProgressTTL
}

// foreignKeys counts keys that are not walship's and keeps the three that
// sort first, for the plan's note: a prefix shared with a million other
// objects costs no memory per object.
type foreignKeys struct {
	n     int
	first []string
}

func (f *foreignKeys) add(key string) {
	f.n++
	if i, _ := slices.BinarySearch(f.first, key); i < 3 {
		f.first = slices.Insert(f.first, i, key)[:min(len(f.first)+1, 3)]
	}
}
