package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/pitr"
)

// estimated is a restore next to the time its plan predicted.
type estimated struct {
	res      pitr.Result
	estimate time.Duration // Plan.Estimate after Plan.Measure
	took     time.Duration // Execute's wall time
}

// String is "estimate E, took T (E/T)": within 2x either way is the goal.
func (e estimated) String() string {
	return fmt.Sprintf("estimate %v, took %v (%.2fx)", e.estimate.Round(time.Millisecond), e.took.Round(time.Millisecond),
		e.estimate.Seconds()/max(e.took.Seconds(), 1e-9))
}

// restoreEstimated plans a restore of everything in st, measures the plan's
// rates as `walship restore` does, and executes it.
func restoreEstimated(ctx context.Context, st backends.Store, out string, o pitr.Options) (estimated, error) {
	var e estimated
	p, err := pitr.MakePlanWith(ctx, st, pitr.Target{Latest: true}, pitr.PlanOptions{Identities: o.Identities})
	if err != nil {
		return e, err
	}
	if err := p.Measure(ctx, st, pitr.MeasureOptions{Parallel: o.Parallel, Identities: o.Identities, Format: o.Format, Dir: filepath.Dir(out)}); err != nil {
		return e, err
	}
	e.estimate = p.Estimate
	start := time.Now()
	e.res, err = pitr.Execute(ctx, st, p, out, o)
	e.took = time.Since(start)
	return e, err
}
