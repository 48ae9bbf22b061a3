package agent

import (
	"context"
	"time"

	"github.com/walship/walship/retention"
)

// RetentionOptions make the agent prune its stores on a schedule.
type RetentionOptions struct {
	Policy   retention.Policy
	Interval time.Duration // 0: the agent never prunes ('walship prune' still does)
}

// runRetention prunes every healthy store each Interval until ctx ends.
// Failures are logged; the next run tries again.
func (a *Agent) runRetention(ctx context.Context) {
	if a.opt.Retention.Interval <= 0 {
		return
	}
	t := time.NewTicker(a.opt.Retention.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, s := range a.opt.Stores {
			if a.shippers[i].degraded.Load() {
				continue
			}
			if a.leases.freshen(ctx, s.Store.String()); !a.leases.writable(s.Store.String()) {
				continue
			}
			st, err := retention.Prune(throttleLow(ctx), s.Store, a.opt.Retention.Policy, time.Now(), a.log.With("store", s.Name))
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				a.log.Error("prune failed; retrying next interval", "store", s.Name, "err", err)
				continue
			}
			a.metrics.pruned.WithLabelValues(s.Name).Add(float64(st.Deleted()))
		}
	}
}
