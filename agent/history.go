package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// sealedCRCs calls fn with the CRC32C of every sealed entry lo..hi of the
// current timeline's history (entries in a gap have none). Segments are
// read from the spool when still there, else from the first store that has
// them.
func (a *Agent) sealedCRCs(ctx context.Context, lo, hi uint64, fn func(idx uint64, crc uint32)) error {
	a.mu.Lock()
	chain := a.st.chain(a.st.current().ID)
	a.mu.Unlock()
	// Walk the history: the current timeline owns [Start, hi]; each parent
	// owns [its Start, child's ForkIndex].
	upper := hi
	for _, t := range chain {
		from, to := max(lo, t.StartIndex), upper
		if from <= to {
			if err := a.timelineCRCs(ctx, t.ID, from, to, fn); err != nil {
				return err
			}
		}
		if t.Parent == 0 || t.ForkIndex < lo {
			break
		}
		upper = min(upper, t.ForkIndex)
	}
	return nil
}

// errHistoryMissing: sealed entries to compare with are gone (pruned, or a
// store lost them); the fork check then assumes the worst.
var errHistoryMissing = errors.New("sealed history not available")

type histSeg struct {
	name  segments.SegmentName
	spool string // spool item, or "" to read from a store
}

func (a *Agent) timelineCRCs(ctx context.Context, tl uint32, from, to uint64, fn func(uint64, uint32)) error {
	var segs []histSeg
	a.mu.Lock()
	for _, it := range a.items {
		if n, err := parseItem(it); err == nil && n.Timeline == tl {
			segs = append(segs, histSeg{name: n, spool: it})
		}
	}
	a.mu.Unlock()
	covered := len(segs) > 0 && segs[0].name.First <= from
	var store backends.Store
	if !covered {
		var err error
		store, segs, err = a.storeSegments(ctx, tl, segs)
		if err != nil {
			return err
		}
	}
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].name.First < segs[j].name.First })
	need := from
	for _, s := range segs {
		if need > to {
			break
		}
		if s.name.Last < need {
			continue
		}
		if s.name.First > need {
			break
		}
		if err := a.readCRCs(ctx, store, s, need, to, fn); err != nil {
			return err
		}
		need = s.name.Last + 1
	}
	if need <= to {
		return fmt.Errorf("%w: timeline %d, entries %d..%d are in neither the spool nor the stores", errHistoryMissing, tl, need, to)
	}
	return nil
}

// storeSegments adds the timeline's segments listed by the first store that
// answers.
func (a *Agent) storeSegments(ctx context.Context, tl uint32, segs []histSeg) (backends.Store, []histSeg, error) {
	var errs []error
	for _, s := range a.opt.Stores {
		if len(s.Recipients) > 0 {
			continue // its segments need an identity the agent does not hold
		}
		var found []histSeg
		err := s.Store.List(ctx, segments.TimelinePrefix(tl), "", func(oi backends.ObjectInfo) error {
			if n, err := segments.ParseSegmentKey(oi.Key); err == nil {
				found = append(found, histSeg{name: n})
			}
			return nil
		})
		if err == nil {
			return s.Store, append(segs, found...), nil
		}
		errs = append(errs, fmt.Errorf("store %s: %w", s.Name, err))
	}
	if len(errs) == 0 {
		return nil, segs, nil // only encrypted stores: the spool's segments are all there is
	}
	return nil, nil, errors.Join(errs...)
}

func (a *Agent) readCRCs(ctx context.Context, store backends.Store, s histSeg, from, to uint64, fn func(uint64, uint32)) error {
	var src io.ReadCloser
	var err error
	what := s.spool
	if s.spool != "" {
		src, err = os.Open(a.spool.path(s.spool))
	} else {
		what = s.name.Key()
		src, err = store.Get(ctx, what, 0, -1)
	}
	if err != nil {
		return fmt.Errorf("read sealed history %s: %w", what, err)
	}
	defer src.Close()
	r, err := segments.NewReader(src)
	if errors.Is(err, crypt.ErrNoIdentity) {
		return fmt.Errorf("%w: %s is encrypted (the agent holds no identity)", errHistoryMissing, what)
	}
	if err != nil {
		return fmt.Errorf("read sealed history %s: %w", what, err)
	}
	defer r.Close()
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read sealed history %s: %w", what, err)
		}
		if e.Index > to {
			return nil
		}
		if e.Index >= from {
			fn(e.Index, segments.CRC32C(e.Data))
		}
	}
}
