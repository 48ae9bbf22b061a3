package compact

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// Scope limits a pass to one timeline's segments from an index on: After
// is a Result.Settled of an earlier pass, or 0 for all of them.
type Scope struct {
	Timeline uint32
	After    uint64
}

// Result is what a pass did (or, in a dry run, would do).
type Result struct {
	Merged     int   `json:"merged"`      // segments merged into outputs
	Outputs    int   `json:"outputs"`     // outputs stored
	Deleted    int   `json:"deleted"`     // contained segments deleted
	Waiting    int   `json:"waiting"`     // contained segments left for a later pass (grace)
	BytesRead  int64 `json:"bytes_read"`  // of segments fetched
	BytesStore int64 `json:"bytes_store"` // of outputs stored
	// Conflicts are contained segments whose entries differ from their
	// container's: never deleted.
	Conflicts []string `json:"conflicts,omitempty"`
	// Settled gives, per timeline seen, the index a later pass may list
	// from (Scope.After).
	Settled map[uint32]uint64 `json:"settled"`
	// Pending names the timelines where a later pass has work even if
	// nothing new is shipped: windows still open, segments waiting for
	// their grace period, a merge that failed.
	Pending []uint32 `json:"pending,omitempty"`
}

// Pass compacts st once: for every timeline in scope (nil: every timeline
// with a record in the store) it lists the segments, at most
// Options.ListBatch at a time, merges runs level by level and deletes the
// contained segments that may go (see clean). Keys under segments/ that do
// not parse are left alone. A failure of one timeline does not stop the
// others; the errors come back joined, with what was done.
func Pass(ctx context.Context, st backends.Store, opt Options, scope []Scope) (Result, error) {
	o := opt.withDefaults()
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	res := Result{Settled: map[uint32]uint64{}}
	if scope == nil {
		var err error
		if scope, err = allTimelines(ctx, st); err != nil {
			return res, err
		}
	}
	var errs []error
	for _, sc := range scope {
		if err := passBatches(ctx, st, o, sc, &res); err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			errs = append(errs, fmt.Errorf("compact timeline %d of %s: %w", sc.Timeline, st, err))
		}
	}
	return res, errors.Join(errs...)
}

// passBatches compacts one timeline from sc.After on, one listing batch at
// a time, so memory stays bounded by the batch whatever the history. A
// batch cut short by the budget leaves its last window of the last level
// to the next batch (that window may go on past the cut).
func passBatches(ctx context.Context, st backends.Store, o Options, sc Scope, res *Result) error {
	settledAt := uint64(math.MaxUint64)
	pending := false
	after := segments.SeekKey(sc.Timeline, sc.After)
	var errs []error
	for {
		objs, more, err := listBatch(ctx, st, sc.Timeline, after, o.ListBatch)
		if err != nil {
			return err
		}
		if more {
			objs = withoutLastWindow(objs, o.Levels[len(o.Levels)-1])
		}
		from := sc.After
		if len(objs) > 0 {
			from = max(from, objs[0].Name.First)
			after = objs[len(objs)-1].Key
		}
		s, left, err := passTimeline(ctx, st, o, sc.Timeline, from, objs, res)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, err)
		}
		settledAt = min(settledAt, s)
		pending = pending || left
		if !more {
			break
		}
	}
	res.Settled[sc.Timeline] = settledAt
	if pending {
		res.Pending = append(res.Pending, sc.Timeline)
	}
	return errors.Join(errs...)
}

// passTimeline does one batch of a timeline's segments (objs, listed from
// index from on): merges, then deletes. It adds its counts to res and
// returns the index a later pass may list from and whether work is left.
func passTimeline(ctx context.Context, st backends.Store, o Options, tl uint32, from uint64, objs []object, res *Result) (settledAt uint64, pending bool, err error) {
	top, inner := split(objs)
	next := from
	if n := len(top); n > 0 {
		next = max(next, top[n-1].Name.Last+1)
	}
	var failed error
	var merged []object // inputs of this pass's merges
	stop := next        // the first index of a run that failed
	for _, w := range o.Levels {
		for _, run := range runs(top, w, o.Delay, o.MaxBytes, o.Now()) {
			if o.DryRun {
				res.Merged += len(run)
				res.Outputs++
				continue
			}
			out, read, err := merge(ctx, st, o, tl, run)
			res.BytesRead += read
			if err != nil {
				if ctx.Err() != nil {
					return 0, true, ctx.Err()
				}
				if errors.Is(err, errSealed) { // skipped for good: settle past it
					o.Log.Info("compaction: run skipped", "store", st.String(), "timeline", tl, "from", run[0].Key, "reason", err.Error())
					continue
				}
				if !errors.Is(err, errGone) {
					failed = errors.Join(failed, err)
				}
				stop = min(stop, run[0].Name.First)
				continue
			}
			res.Merged += len(run)
			res.Outputs++
			res.BytesStore += out.Size
			o.Log.Info("compaction: merged segments", "store", st.String(), "timeline", tl, "inputs", len(run),
				"key", out.Key, "window", w, "bytes", out.Size)
			top = replace(top, run, out)
			merged = append(merged, run...)
		}
	}
	// The inputs just merged are contained now, beside what was contained
	// before: delete what may go (with no grace, this pass's inputs too).
	_, inner = split(slices.Concat(top, innerOf(inner), merged))
	cr, cerr := clean(ctx, st, o, inner)
	res.Deleted += cr.deleted
	res.Waiting += cr.waiting
	res.BytesRead += cr.read
	res.Conflicts = append(res.Conflicts, cr.conflicts...)
	failed = errors.Join(failed, cerr)
	left := inner[:0]
	for _, c := range inner {
		if !cr.gone[c.obj.Key] {
			left = append(left, c)
		}
	}
	s := min(stop, settled(top, left, o.Levels[len(o.Levels)-1], o.Delay, o.Now(), next))
	return s, s < next || len(left) > 0 || failed != nil, failed
}

// replace puts out in top where run's objects were.
func replace(top, run []object, out object) []object {
	i := slices.IndexFunc(top, func(o object) bool { return o.Key == run[0].Key })
	return slices.Replace(top, i, i+len(run), out)
}

// innerOf is the contained objects themselves.
func innerOf(cs []contained) []object {
	out := make([]object, len(cs))
	for i, c := range cs {
		out[i] = c.obj
	}
	return out
}
