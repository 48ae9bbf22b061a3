package retention

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

const (
	// deleteParallel is how many deletions run at once within a phase.
	deleteParallel = 8
	// chunkBatch and chunkBatchTime bound how many chunks are deleted (and
	// for how long) between two looks for in-progress markers and new
	// manifests.
	chunkBatch     = 64
	chunkBatchTime = time.Second
)

// ErrChanged: since the plan was made the store gained something that can
// change what prune must keep (a new timeline record, a new pinned point).
// Nothing more was deleted; plan again.
var ErrChanged = errors.New("store changed since the prune was planned")

// ErrRaced: a snapshot stored during the prune refers to a chunk the prune
// deleted (its upload began between a look for in-progress markers and a
// deletion). That base cannot be restored; take a new snapshot.
var ErrRaced = errors.New("a snapshot upload raced the prune")

// Stats say what Execute did.
type Stats struct {
	Manifests, Chunks, Segments, Timelines, Markers int   // objects deleted
	Bytes                                           int64 // their listed sizes
	// ChunksSpared were planned for deletion but kept: a manifest stored
	// since the plan refers to them.
	ChunksSpared int
	// ChunksDeferred were planned for deletion but kept: a snapshot upload
	// began during the prune (a fresh in-progress marker appeared).
	ChunksDeferred int
	Notes          []string
	Elapsed        time.Duration
}

// Deleted is the number of objects deleted.
func (s Stats) Deleted() int { return s.Manifests + s.Chunks + s.Segments + s.Timelines + s.Markers }

// Execute carries out plan on st in a safe order, so that stopping it at
// any point (an error, a cancelled ctx, kill -9) leaves every retained
// target restorable and no base that looks restorable but is not:
//
//  1. manifests of unretained bases (a base is gone before any of its
//     chunks is);
//  2. chunks no retained manifest refers to, in batches; before each batch
//     it lists snapshots/ again: chunks a manifest stored since the plan
//     refers to are spared, and a fresh in-progress marker (an upload began)
//     stops chunk deletion;
//  3. segments no retained target replays;
//  4. timeline records no retained history uses, newest first (no record
//     ever names a missing parent);
//  5. expired in-progress markers.
//
// Before phases 1, 3 and 4 it lists timelines/ and points/ again: a new
// timeline record or a new pinned point stops it with ErrChanged.
func Execute(ctx context.Context, st backends.Store, plan *PrunePlan) (Stats, error) {
	return ExecuteWith(ctx, st, plan, ExecuteOptions{})
}

// Progress is told how far a prune has got, for a person watching (the
// CLI draws it). Its methods are called from several goroutines at once
// and must be cheap and never block.
type Progress interface {
	// Total says how many objects the plan deletes and their bytes, at
	// the start.
	Total(objects, bytes int64)
	// Add counts objects deleted and their listed bytes. The sums of all
	// Adds equal Stats.Deleted() and Stats.Bytes.
	Add(objects, bytes int64)
}

// ExecuteOptions tune ExecuteWith.
type ExecuteOptions struct {
	Progress Progress // nil: none
}

// ExecuteWith is Execute with options.
func ExecuteWith(ctx context.Context, st backends.Store, plan *PrunePlan, o ExecuteOptions) (Stats, error) {
	start := time.Now()
	x := &executor{st: st, plan: plan, prog: o.Progress}
	err := x.run(ctx)
	x.stats.Elapsed = time.Since(start)
	if err != nil {
		return x.stats, fmt.Errorf("prune %s: %w", st, err)
	}
	return x.stats, nil
}

// Prune plans and executes a prune of st under p at now, logging the plan's
// summary, its notes and what was done. Agents call it on a schedule, once
// per store.
func Prune(ctx context.Context, st backends.Store, p Policy, now time.Time, log *slog.Logger) (Stats, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	plan, err := Plan(ctx, st, p, now)
	if err != nil {
		log.Error("prune: plan failed", "store", st.String(), "err", err)
		return Stats{}, err
	}
	defer plan.Release()
	log.Info("prune planned", "store", plan.Store, "policy", p.String(), "newest_timeline", plan.Newest,
		"latest", plan.Latest, "summary", plan.Summary())
	for _, n := range plan.Notes {
		log.Info("prune note", "store", plan.Store, "note", n)
	}
	if plan.Hold != "" {
		log.Warn("prune: chunks held back", "store", plan.Store, "chunks", plan.HeldChunks, "why", plan.Hold)
	}
	stats, err := Execute(ctx, st, plan)
	for _, n := range stats.Notes {
		log.Warn("prune", "store", plan.Store, "note", n)
	}
	if err != nil {
		log.Error("prune failed", "store", plan.Store, "deleted", stats.Deleted(), "err", err)
		return stats, err
	}
	log.Info("prune done", "store", plan.Store, "deleted", stats.Deleted(), "bytes", stats.Bytes,
		"manifests", stats.Manifests, "chunks", stats.Chunks, "segments", stats.Segments,
		"timelines", stats.Timelines, "markers", stats.Markers, "chunks_spared", stats.ChunksSpared,
		"chunks_deferred", stats.ChunksDeferred, "elapsed", stats.Elapsed)
	return stats, nil
}

type executor struct {
	st    backends.Store
	plan  *PrunePlan
	prog  Progress // nil: none
	mu    sync.Mutex
	stats Stats
}

func (x *executor) run(ctx context.Context) error {
	if x.plan == nil {
		return errors.New("no plan")
	}
	if x.prog != nil {
		t := x.plan.Totals()[""]
		x.prog.Total(int64(t.Objects), t.Bytes)
	}
	if err := x.recheck(ctx); err != nil {
		return err
	}
	if err := x.deleteAll(ctx, slices.Values(x.plan.Manifests), deleteParallel); err != nil {
		return err
	}
	if err := x.chunks(ctx); err != nil {
		return err
	}
	if err := x.recheck(ctx); err != nil {
		return err
	}
	if err := x.deleteAll(ctx, x.plan.Segments.All(), deleteParallel); err != nil {
		return err
	}
	if err := x.plan.Segments.Err(); err != nil {
		return fmt.Errorf("read the plan's segment deletions: %w", err)
	}
	if err := x.recheck(ctx); err != nil {
		return err
	}
	if err := x.deleteAll(ctx, slices.Values(x.plan.Timelines), 1); err != nil {
		return err
	}
	return x.deleteAll(ctx, slices.Values(x.plan.Markers), deleteParallel)
}

// deleteAll deletes ds, par at a time, counting what it deleted. It stops
// at the first error.
func (x *executor) deleteAll(ctx context.Context, ds iter.Seq[Deletion], par int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	for d := range ds {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if err := x.st.Delete(gctx, d.Key); err != nil {
				return fmt.Errorf("delete %s %s: %w", d.Kind, d.Key, err)
			}
			x.count(d)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func (x *executor) count(d Deletion) {
	if x.prog != nil {
		x.prog.Add(1, d.Size)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch d.Kind {
	case KindManifest:
		x.stats.Manifests++
	case KindChunk:
		x.stats.Chunks++
	case KindSegment:
		x.stats.Segments++
	case KindTimeline:
		x.stats.Timelines++
	case KindMarker:
		x.stats.Markers++
	}
	x.stats.Bytes += d.Size
}

func (x *executor) note(s string) { x.stats.Notes = append(x.stats.Notes, s) }

// recheck lists timelines/ and points/ again: a timeline record or a pinned
// point the plan did not see can need what the plan deletes.
func (x *executor) recheck(ctx context.Context) error {
	var newTL []string
	if err := list(ctx, x.st, segments.TimelinesPrefix, func(oi backends.ObjectInfo) {
		if _, err := segments.ParseTimelineKey(oi.Key); err == nil && !x.plan.tlKeys[oi.Key] {
			newTL = append(newTL, oi.Key)
		}
	}); err != nil {
		return err
	}
	if len(newTL) > 0 {
		return fmt.Errorf("%w: new timeline record(s) %s (the database forked); run prune again", ErrChanged, strings.Join(newTL, ", "))
	}
	var newPoints []string
	if err := list(ctx, x.st, segments.PointsPrefix, func(oi backends.ObjectInfo) {
		if _, err := segments.ParsePointKey(oi.Key); err == nil && !x.plan.points[oi.Key] {
			newPoints = append(newPoints, oi.Key)
		}
	}); err != nil {
		return err
	}
	for _, key := range newPoints {
		p, err := readPoint(ctx, x.st, key)
		if backends.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: new restore point %s cannot be read (%v); run prune again", ErrChanged, key, err)
		}
		if p.Pinned {
			return fmt.Errorf("%w: new pinned restore point %q (timeline %d, entry %d); run prune again", ErrChanged, p.Name, p.Timeline, p.Index)
		}
	}
	return nil
}

// snapshotsNow lists snapshots/: manifests the plan did not see, and
// whether an in-progress marker it did not see (or one it saw as fresh)
// holds chunk deletion back.
func (x *executor) snapshotsNow(ctx context.Context) (newManifests []string, held string, err error) {
	var markers []backends.ObjectInfo
	err = list(ctx, x.st, segments.SnapshotsPrefix, func(oi backends.ObjectInfo) {
		if _, err := segments.ParseSnapshotKey(oi.Key); err == nil {
			if !x.plan.manifests[oi.Key] {
				newManifests = append(newManifests, oi.Key)
			}
		} else if _, err := snapshot.ParseInProgressKey(oi.Key); err == nil && !x.plan.markers[oi.Key] {
			markers = append(markers, oi)
		}
	})
	if err != nil {
		return nil, "", err
	}
	now := x.plan.Now.Add(time.Since(x.plan.planned))
	for _, oi := range markers {
		if m := readMarker(ctx, x.st, oi); m.fresh(now) {
			return newManifests, oi.Key, ctx.Err()
		}
	}
	return newManifests, "", ctx.Err()
}

// chunks deletes the plan's chunks in batches, looking before each batch
// for manifests stored since the plan (their chunks are spared) and for
// in-progress markers (an upload began: chunk deletion stops).
func (x *executor) chunks(ctx context.Context) error {
	if len(x.plan.Chunks) == 0 {
		return nil
	}
	seen := map[string]bool{} // new manifests loaded
	spare := map[string]bool{}
	deleted := map[string]bool{}
	look := func() (string, error) {
		keys, held, err := x.snapshotsNow(ctx)
		if err != nil {
			return "", err
		}
		for _, key := range keys {
			if seen[key] {
				continue
			}
			m, err := snapshot.Load(ctx, x.st, key)
			if backends.IsNotFound(err) {
				continue
			}
			if err != nil {
				if ctx.Err() != nil {
					return "", ctx.Err()
				}
				return fmt.Sprintf("manifest %s, stored since the plan, cannot be read (%v)", key, err), nil
			}
			seen[key] = true
			for _, d := range m.ChunkRefs() {
				spare[segments.ChunkKey(d)] = true
			}
		}
		if held != "" {
			return fmt.Sprintf("in-progress marker %s appeared: a snapshot upload began", held), nil
		}
		return "", nil
	}
	rest := x.plan.Chunks
	for len(rest) > 0 {
		stop, err := look()
		if err != nil {
			return err
		}
		if stop != "" {
			x.stats.ChunksDeferred += len(rest)
			x.note(fmt.Sprintf("chunk deletion stopped with %d chunk(s) left: %s; a later prune deletes them", len(rest), stop))
			break
		}
		// One batch: at most chunkBatch deletions, dispatched for at most
		// chunkBatchTime, then look again.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(deleteParallel)
		began, n := time.Now(), 0
		for len(rest) > 0 && n < chunkBatch && time.Since(began) < chunkBatchTime && gctx.Err() == nil {
			d := rest[0]
			rest = rest[1:]
			if spare[d.Key] {
				x.stats.ChunksSpared++
				continue
			}
			deleted[d.Key] = true
			n++
			g.Go(func() error {
				if err := x.st.Delete(gctx, d.Key); err != nil {
					return fmt.Errorf("delete %s %s: %w", d.Kind, d.Key, err)
				}
				x.count(d)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	// A manifest stored during the last batch may refer to a chunk deleted
	// in it: say so loudly, that base cannot be restored.
	keys, held, err := x.snapshotsNow(ctx)
	if err != nil {
		return err
	}
	if held != "" && len(x.plan.Chunks) > x.stats.ChunksDeferred {
		x.note(fmt.Sprintf("in-progress marker %s appeared while chunks were deleted; if that snapshot fails to restore, take a new one (walship verify checks it)", held))
	}
	for _, key := range keys {
		if seen[key] {
			continue
		}
		m, err := snapshot.Load(ctx, x.st, key)
		if err != nil {
			continue
		}
		for _, d := range m.ChunkRefs() {
			if deleted[segments.ChunkKey(d)] {
				return fmt.Errorf("%w: snapshot %s, stored during the prune, refers to chunk %s, which the prune deleted: that base cannot be restored; take a new snapshot",
					ErrRaced, key, segments.ChunkKey(d))
			}
		}
	}
	return nil
}
