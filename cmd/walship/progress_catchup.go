package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/wal"
)

// sourceLast is the last complete entry of the source log at start, the
// backlog replicate catches up on; false when it cannot be read (the agent
// says why when it starts).
func sourceLast(dir string, opt wal.Options) (uint64, bool) {
	t, err := wal.Open(dir, opt)
	if err != nil {
		return 0, false
	}
	defer t.Close()
	_, last, err := t.Bounds()
	return last, err == nil && last > 0
}

// catchUp logs how each store ships the backlog the source held at start,
// entries up to last, as progress lines (never a bar: the agent logs too).
// On every tick it reads the agent's status: the first tick fixes each
// store's starting point, later ones log a line for each store still behind
// and "caught up" once a store has it all. It returns when every store has
// caught up or ctx ends.
func catchUp(ctx context.Context, last uint64, status func() agent.Status, ticks <-chan time.Time, clock func() time.Time) {
	type store struct {
		m    *meter
		from uint64
		done bool
	}
	stores := map[string]*store{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		behind := 0
		for _, s := range status().Stores {
			c := stores[s.Name]
			switch {
			case c == nil:
				c = &store{from: s.Shipped, done: s.Shipped >= last}
				c.m = newMeter("catch-up "+s.Name, "entries", clock, "store", s.Name)
				c.m.Total(int64(last-min(s.Shipped, last)), -1)
				stores[s.Name] = c
			case c.done:
			case s.Shipped >= last:
				c.done = true
				slog.Info("caught up", "store", s.Name, "index", last, "elapsed", clock().Sub(c.m.start))
			default:
				c.m.objs.Store(int64(s.Shipped - min(s.Shipped, c.from)))
				c.m.show(false)
			}
			if !c.done {
				behind++
			}
		}
		if behind == 0 {
			return
		}
	}
}
