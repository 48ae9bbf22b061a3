package throttle

import (
	"context"
	"fmt"
)

// Priority orders traffic on a shared limit: every queued High waiter is
// served before any Low waiter, whatever their arrival order. The order is
// strict: while High traffic alone fills a limit, Low waits. WAL traffic is
// bounded by the database's write rate, so a limit set above that rate
// always leaves bulk work a share.
type Priority int

const (
	// High is live WAL segment traffic, and the default for a context that
	// carries no priority: forgetting to mark work can only make it faster,
	// never stall the WAL behind a backlog.
	High Priority = iota
	// Low is bulk traffic: the catch-up backlog after an outage, base
	// snapshot chunks, retention sweeps. It takes what High leaves and, for
	// uploads, is also held to Config.BulkUploadBytesPerSec.
	Low

	numPriorities = 2
)

// String returns "high" or "low", the label used in metrics.
func (p Priority) String() string {
	switch p {
	case High:
		return "high"
	case Low:
		return "low"
	}
	return fmt.Sprintf("priority(%d)", int(p))
}

type priorityKey struct{}

// WithPriority returns a copy of ctx that makes the transfers and calls made
// with it wait as priority p. A value other than High or Low is treated as
// Low.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom returns the priority set on ctx by WithPriority, High when none
// was set, and Low for any value that is not High.
func PriorityFrom(ctx context.Context) Priority {
	p, ok := ctx.Value(priorityKey{}).(Priority)
	if !ok || p == High {
		return High
	}
	return Low
}
