package agent

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// condition is a fault of the world the agent outlives and reports rather
// than stopping for: a source it cannot read, a state dir too full to seal
// into or to save state.json in. Its message is what /healthz and /status
// show; it is stable across retries of the same fault (no temp file names),
// so that only a change is logged, never a retry.
type condition struct {
	mu  sync.Mutex
	msg string
	on  atomic.Bool // msg != "", for hot paths that only ask whether
}

// set records msg ("" clears) and returns the message it replaces.
func (c *condition) set(msg string) (prev string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, c.msg = c.msg, msg
	c.on.Store(msg != "")
	return prev
}

// get returns the message, "" while the condition does not hold.
func (c *condition) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msg
}

// active reports whether the condition holds; it takes no lock.
func (c *condition) active() bool { return c.on.Load() }

// update sets c to msg and logs the change once: raised (at level, with
// err) when the condition starts or its message changes, cleared (at Info,
// or at level when that is lower) when it ends. Calling it again with the
// same message logs nothing.
func (c *condition) update(log *slog.Logger, msg string, err error, level slog.Level, raised, cleared string, attrs ...any) {
	prev := c.set(msg)
	switch {
	case msg == prev:
	case msg == "":
		log.Log(context.Background(), min(level, slog.LevelInfo), cleared, attrs...)
	default:
		log.Log(context.Background(), level, raised, append(attrs, "err", err)...)
	}
}
