package agent

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/walship/walship/compact"
	"github.com/walship/walship/crypt"
)

// CompactionOptions make the agent merge each store's small segments into
// larger ones (package compact) in the background.
type CompactionOptions struct {
	compact.Options
	Interval time.Duration // how often a store with work is compacted; 0: never
}

// compactState is what the agent remembers of one store's compaction:
// where each timeline is settled (the next pass lists from there), which
// timelines got new segments or still have work.
type compactState struct {
	mu      sync.Mutex
	full    bool              // a whole listing was done once
	settled map[uint32]uint64 // per timeline: list from here
	dirty   map[uint32]bool   // shipped to, or work left
}

// shippedTo notes a segment shipped on timeline tl.
func (c *compactState) shippedTo(tl uint32) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.dirty[tl] = true
	c.mu.Unlock()
}

// idle reports whether a pass now would have nothing to do.
func (c *compactState) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.full && len(c.dirty) == 0
}

// scope takes the timelines to compact now; nil means the whole store
// (the first pass), empty means nothing to do.
func (c *compactState) scope() []compact.Scope {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.full {
		clear(c.dirty)
		return nil
	}
	out := []compact.Scope{}
	for _, tl := range slices.Sorted(maps.Keys(c.dirty)) {
		out = append(out, compact.Scope{Timeline: tl, After: c.settled[tl]})
	}
	clear(c.dirty)
	return out
}

// done records a pass: settled positions, and the timelines with work left
// (all in scope, if the pass failed).
func (c *compactState) done(scope []compact.Scope, res compact.Result, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if scope == nil && !failed {
		c.full = true
	}
	maps.Copy(c.settled, res.Settled)
	for _, tl := range res.Pending {
		c.dirty[tl] = true
	}
	if failed {
		for _, s := range scope {
			c.dirty[s.Timeline] = true
		}
	}
}

// runCompaction compacts every healthy store each Interval, each only when
// it has work: the first pass lists the whole store, later ones only the
// timelines that got segments or have work left, from where they settled.
// An idle agent with nothing left makes no request. Failures are logged;
// the next interval tries again.
func (a *Agent) runCompaction(ctx context.Context) {
	if a.opt.Compaction.Interval <= 0 {
		return
	}
	o := a.opt.Compaction.Options
	o.TempDir = filepath.Join(a.opt.StateDir, "compact")
	// Outputs being built when the agent was killed are left here. A
	// directory that cannot be cleared or made (a full state dir) is tried
	// again each interval; compaction waits for it.
	logged := false
	prepare := func() bool {
		err := os.RemoveAll(o.TempDir)
		if err == nil {
			err = os.MkdirAll(o.TempDir, 0o700)
		}
		if err != nil && !logged {
			logged = true
			a.log.Error("compaction waits: cannot clear or make its temporary directory; retrying each interval", "dir", o.TempDir, "err", err)
		}
		return err == nil
	}
	scratch := prepare()
	opts := make([]*compact.Options, len(a.opt.Stores)) // nil: the store is not compacted
	for i, s := range a.opt.Stores {
		so := o
		so.Identities = nil
		if len(s.Recipients) > 0 {
			so.Identities, so.Recipients = o.Identities, s.Recipients
			switch {
			case len(o.Identities) == 0:
				a.log.Info("compaction skips this store: its segments are encrypted and the agent holds no identity (compaction.identity_file); compact it with 'walship compact --identity'", "store", s.Name)
				continue
			case so.Validate() != nil:
				a.log.Warn("compaction skips this store: the identity given (compaction.identity_file) opens none of its recipients", "store", s.Name, "recipients", crypt.Fingerprints(s.Recipients))
				continue
			}
			a.log.Info("compaction merges this encrypted store's segments with the identity given (compaction.identity_file), sealing them to its recipients again", "store", s.Name)
		}
		opts[i] = &so
	}
	t := time.NewTicker(a.opt.Compaction.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !scratch {
			if scratch = prepare(); !scratch {
				continue
			}
		}
		for i, s := range a.opt.Stores {
			if opts[i] == nil || a.shippers[i].degraded.Load() {
				continue
			}
			cs := a.compaction[i]
			if cs.idle() { // the lease is asked for only with work: asking keeps it renewed
				continue
			}
			if a.leases.freshen(ctx, s.Store.String()); !a.leases.writable(s.Store.String()) {
				continue
			}
			scope := cs.scope()
			so := *opts[i]
			so.Log = a.log.With("store", s.Name)
			res, err := compact.Pass(throttleLow(ctx), s.Store, so, scope)
			cs.done(scope, res, err != nil)
			a.metrics.compacted.WithLabelValues(s.Name).Add(float64(res.Merged))
			a.metrics.compactDeleted.WithLabelValues(s.Name).Add(float64(res.Deleted))
			for _, c := range res.Conflicts {
				a.log.Error("compaction: a segment differs from the larger one that holds its entries; kept (run walship verify)", "store", s.Name, "conflict", c)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				a.log.Error("compaction failed; retrying next interval", "store", s.Name, "err", err)
			}
		}
	}
}
