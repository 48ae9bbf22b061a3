package throttle

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of what one Limiter let through and how long callers
// queued on it, since it was made. Counters only grow.
//
// A transfer through a store's Limiter and the global one shows in both
// snapshots, each with the time it spent queued on that Limiter alone; the
// sum of the two is the transfer's total throttle delay.
type Stats struct {
	Upload   Traffic // bytes of Put bodies
	Download Traffic // bytes of Get bodies and Reader
	Requests Traffic // calls
}

// Traffic splits one direction's counters by priority.
type Traffic struct {
	High, Low Counter
}

// Counter is one direction and priority's totals.
type Counter struct {
	// N is the bytes (for Requests: calls) let through.
	N int64
	// Waited is the total time callers spent queued, including waits that
	// ended with a cancelled context. A caller served at once adds nothing.
	Waited time.Duration
}

// Of returns the counter for priority p.
func (t Traffic) Of(p Priority) Counter {
	if p == High {
		return t.High
	}
	return t.Low
}

// Total returns the counters of both priorities added together.
func (t Traffic) Total() Counter {
	return Counter{N: t.High.N + t.Low.N, Waited: t.High.Waited + t.Low.Waited}
}

type counters struct {
	n, waited [numDirections][numPriorities]atomic.Int64
}

func (c *counters) add(d direction, p Priority, n, waited int64) {
	if n != 0 {
		c.n[d][p].Add(n)
	}
	if waited != 0 {
		c.waited[d][p].Add(waited)
	}
}

func (c *counters) traffic(d direction) Traffic {
	get := func(p Priority) Counter {
		return Counter{N: c.n[d][p].Load(), Waited: time.Duration(c.waited[d][p].Load())}
	}
	return Traffic{High: get(High), Low: get(Low)}
}

// Stats returns the Limiter's counters (zero for a nil Limiter). Safe to call
// at any time; the fields are read one by one, so a snapshot taken during
// traffic may be a few chunks apart between fields.
func (l *Limiter) Stats() Stats {
	if l == nil {
		return Stats{}
	}
	return Stats{
		Upload:   l.stats.traffic(upload),
		Download: l.stats.traffic(download),
		Requests: l.stats.traffic(requests),
	}
}
