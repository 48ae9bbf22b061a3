package compact

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// allTimelines scopes a whole-store pass: every timeline with a record.
// Segments of a timeline without one are damage for verify to report, and
// compaction leaves them alone.
func allTimelines(ctx context.Context, st backends.Store) ([]Scope, error) {
	var out []Scope
	err := st.List(ctx, segments.TimelinesPrefix, "", func(oi backends.ObjectInfo) error {
		if id, err := segments.ParseTimelineKey(oi.Key); err == nil {
			out = append(out, Scope{Timeline: id})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compact: list %s in %s: %w", segments.TimelinesPrefix, st, err)
	}
	return out, nil
}

// errBudget stops a listing at its batch size.
var errBudget = errors.New("listing batch full")

// listBatch lists up to n of timeline tl's segments after the key after;
// more says the listing stopped at n.
func listBatch(ctx context.Context, st backends.Store, tl uint32, after string, n int) (objs []object, more bool, err error) {
	p := segments.TimelinePrefix(tl)
	err = st.List(ctx, p, after, func(oi backends.ObjectInfo) error {
		name, err := segments.ParseSegmentKey(oi.Key)
		if err != nil || name.Timeline != tl {
			return nil // not walship's segment key: never touched
		}
		if len(objs) == n {
			more = true
			return errBudget
		}
		objs = append(objs, object{Key: oi.Key, Size: oi.Size, ModTime: oi.ModTime, Name: name})
		return nil
	})
	if err != nil && !errors.Is(err, errBudget) {
		return nil, false, fmt.Errorf("compact: list %s in %s: %w", p, st, err)
	}
	return objs, more, nil
}

// withoutLastWindow drops the objects, at the end of a batch in key order,
// whose newest entry lies in the same level-w window as the last one's:
// the window may go on in the next batch. If that is every object, it
// keeps them all (a window larger than a batch is merged in parts).
func withoutLastWindow(objs []object, w time.Duration) []object {
	if len(objs) == 0 {
		return objs
	}
	k := window(objs[len(objs)-1], w)
	i := len(objs)
	for i > 0 && window(objs[i-1], w) == k {
		i--
	}
	if i == 0 {
		return objs
	}
	return objs[:i]
}
