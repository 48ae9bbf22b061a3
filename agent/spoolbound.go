package agent

import (
	"context"
	"time"
)

// enforceSpoolBound keeps the spool under SpoolMaxBytes when a store is
// down. The oldest items go first: each degraded store still missing one
// gets a recorded gap instead, its cursor moves past it, and when the store
// ships again a new timeline starts (see shipper.shipped). Nothing is
// reported shipped that is not. A store that is healthy but behind is never
// dropped for: the sealer waits for it instead (see waitSpool), which delays
// only walship, never the database. Called with a.mu held.
func (a *Agent) enforceSpoolBound() error {
	total := a.spoolBytesLocked()
	changed := false
	for total > a.opt.SpoolMaxBytes && len(a.items) > 1 {
		oldest := a.items[0]
		n, err := parseItem(oldest)
		if err != nil {
			return err
		}
		for i, s := range a.opt.Stores {
			id := s.Store.String()
			if a.st.Cursors[id] >= oldest || !a.shippers[i].degraded.Load() {
				continue
			}
			a.st.Cursors[id] = oldest
			gaps := a.st.Gaps[id]
			if k := len(gaps) - 1; k >= 0 && gaps[k].Timeline == n.Timeline && gaps[k].To+1 == n.First {
				gaps[k].To = n.Last
			} else {
				gaps = append(gaps, Gap{Timeline: n.Timeline, From: n.First, To: n.Last})
			}
			a.st.Gaps[id] = gaps
			a.st.Gapped[id] = true
			a.metrics.gaps.WithLabelValues(s.Name).Inc()
			a.log.Error("spool bound reached: segment dropped for a store that is behind; it will have a gap",
				"store", s.Name, "timeline", n.Timeline, "from", n.First, "to", n.Last, "spool_bytes", total, "bound", a.opt.SpoolMaxBytes)
			changed = true
		}
		total -= a.info[oldest].bytes()
		if !changed {
			break // nobody needs it, gc below removes it
		}
		if err := a.saveStateOrDefer(); err != nil {
			return err
		}
		a.gcSpoolLocked() // not before the gaps are saved (gcCursor)
		if len(a.items) > 0 && a.items[0] == oldest {
			break // could not remove it; try again next seal
		}
	}
	return nil
}

func (a *Agent) spoolBytesLocked() int64 {
	var n int64
	for _, it := range a.items {
		n += a.info[it].bytes()
	}
	return n
}

// waitSpool holds the sealer while the spool is over its bound because a
// healthy store is behind. It re-checks when the spool shrinks and every
// 100ms (a store may have become degraded, making room by a gap).
func (a *Agent) waitSpool(ctx context.Context) error {
	for {
		a.mu.Lock()
		err := a.enforceSpoolBound()
		over := a.spoolBytesLocked() > a.opt.SpoolMaxBytes && len(a.items) > 1
		a.mu.Unlock()
		if err != nil || !over {
			return err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-a.spoolFreed:
		case <-t.C:
		}
		t.Stop()
	}
}
