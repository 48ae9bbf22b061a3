package objio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/walship/walship/backends"
)

// CondMode is what a service does with a create-only condition
// (If-None-Match: *) on a write of a key that exists.
type CondMode int32

const (
	// CondUnknown: not probed yet, or the last probe failed.
	CondUnknown CondMode = iota
	// CondHonoured: the service refuses the write (412): one request per
	// Put, no existence check first.
	CondHonoured
	// CondIgnored: the service overwrote the object. Put asks first (one
	// more request), and two writers racing on one key are not refused.
	CondIgnored
	// CondRejected: the service refuses conditional writes altogether
	// (400/501): Put asks first and sends no condition.
	CondRejected
)

func (m CondMode) String() string {
	switch m {
	case CondHonoured:
		return "honoured"
	case CondIgnored:
		return "ignored"
	case CondRejected:
		return "rejected"
	}
	return "unknown"
}

// CondProbe learns, once per store and lazily on its first Put, whether the
// service refuses a conditional create of an existing key. A store that
// knows it can make every Put one request; one that does not keeps an
// existence check before each upload.
type CondProbe struct {
	mu   sync.Mutex
	mode CondMode
	next time.Time // after a failed probe: when to try again
}

// CondProbeRetry is how long a store waits after a probe that could not
// decide (an error) before it probes again.
const CondProbeRetry = time.Minute

// CondOps are the two raw operations a probe needs from a store: put
// without an existence check (with the create-only condition when cond is
// true), classified like Put (ErrExists for 412), and delete.
type CondOps struct {
	Put    func(ctx context.Context, key string, body []byte, cond bool) error
	Delete func(ctx context.Context, key string) error
	// Rejected reports whether err is the service refusing the condition
	// itself (400 or 501), not the write.
	Rejected func(err error) bool
}

// Mode returns what the service does with conditions, probing it when not
// known yet (at most once per CondProbeRetry after a failure). store names
// the store in the one warning logged when conditions are not honoured.
func (p *CondProbe) Mode(ctx context.Context, store string, ops CondOps) CondMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode != CondUnknown || time.Now().Before(p.next) {
		return p.mode
	}
	m, err := probe(ctx, ops)
	if err != nil {
		p.next = time.Now().Add(CondProbeRetry)
		slog.Default().Debug("conditional-write probe failed; checking existence before each upload meanwhile", "store", store, "err", err)
		return CondUnknown
	}
	p.mode = m
	if m != CondHonoured {
		slog.Default().Warn("the store does not refuse conditional creates (If-None-Match: *): walship checks that an object does not exist before each upload (one more request per object), and cannot stop two writers racing on one key",
			"store", store, "conditions", m.String())
	}
	return m
}

// Set fixes the mode (tests, and stores that know without asking).
func (p *CondProbe) Set(m CondMode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

// probe writes a fresh probe key twice under the condition and deletes it.
func probe(ctx context.Context, ops CondOps) (CondMode, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return CondUnknown, err
	}
	key := backends.ProbePrefix + hex.EncodeToString(r[:])
	// Best effort, on the caller's context: a probe cut short by it leaves a
	// few bytes nobody reads rather than holding the caller up.
	defer ops.Delete(ctx, key)
	err := ops.Put(ctx, key, []byte("walship conditional-write probe 1\n"), true)
	if err != nil {
		if ops.Rejected(err) {
			return CondRejected, nil
		}
		return CondUnknown, fmt.Errorf("probe %s: first write: %w", key, err)
	}
	err = ops.Put(ctx, key, []byte("walship conditional-write probe 2\n"), true)
	switch {
	case err == nil:
		return CondIgnored, nil
	case errors.Is(err, backends.ErrExists):
		return CondHonoured, nil
	case ops.Rejected(err):
		return CondRejected, nil
	}
	return CondUnknown, fmt.Errorf("probe %s: second write: %w", key, err)
}
