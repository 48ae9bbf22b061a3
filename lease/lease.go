// Package lease keeps one walship agent per store prefix. Two agents that
// ship different logs to one prefix would both write "timeline 1" and leave
// a backup no restore can trust; the lease object makes the second one stop
// at start-up with a message naming the first.
//
// The lease is one small object, Key, replaced only by compare-and-swap
// (backends.Swapper): Acquire creates it or takes it over, Renew extends it
// (the agent renews every TTL/3 while it writes to the store, and lets an
// idle lease run down), Release marks it free. Of two agents racing for it exactly
// one write wins, whatever the store's consistency, because every write
// names the version it replaces.
//
// A holder is an agent identity: host, state dir and source log. A restart
// of the same agent (same host, state dir and source; a new pid) takes its
// own lease back at once; the state dir's lock file already keeps two live
// processes off one state dir. Any other agent is refused until the lease
// expires (its holder stopped renewing) or it is told to take over.
// Expiry is judged on the reader's clock against the holder's: keep the TTL
// far above the clock skew between hosts.
package lease

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/walship/walship/backends"
)

// Key is the lease object's key, at the top of the store's prefix, beside
// segments/, timelines/ and the other walship prefixes (which list,
// verify, retention and copy work under, so they leave it alone).
const Key = "lease.json"

// Format and Version identify the record.
const (
	Format  = "walship-lease"
	Version = 1
)

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 2 * time.Minute

// The lease object, lease.json, is one JSON document (at most
// backends.MaxSwapSize bytes), replaced whole by PutIf:
//
//	{
//	  "format":   "walship-lease",     // Format
//	  "version":  1,                   // Version; readers refuse newer ones
//	  "holder": {                      // who holds (or last held) the lease
//	    "host":      "db-7",           //   os.Hostname
//	    "pid":       4242,             //   the agent's process id
//	    "state_dir": "/var/lib/x.walship",
//	    "source":    "/var/lib/x/wal"  //   the source log the agent ships
//	  },
//	  "token":      "9f2c...",         // random per Acquire: tells this holder's
//	                                   //   writes from a restarted twin's
//	  "generation": 7,                 // +1 on every write
//	  "acquired":   "2026-...Z",       // RFC 3339, the holder's clock
//	  "renewed":    "2026-...Z",
//	  "expires":    "2026-...Z",       // free after this unless renewed
//	  "released":   false              // true: given up, free at once
//	}
type record struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	Holder     Info      `json:"holder"`
	Token      string    `json:"token"`
	Generation uint64    `json:"generation"`
	Acquired   time.Time `json:"acquired"`
	Renewed    time.Time `json:"renewed"`
	Expires    time.Time `json:"expires"`
	Released   bool      `json:"released"`
}

// Info identifies an agent.
type Info struct {
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	StateDir string `json:"state_dir"`
	Source   string `json:"source"`
}

// Self returns this process's identity as the agent with stateDir and
// source.
func Self(stateDir, source string) Info {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return Info{Host: host, PID: os.Getpid(), StateDir: stateDir, Source: source}
}

// SameAgent reports whether i and o are the same agent, perhaps restarted:
// same host, state dir and source (the pid may differ).
func (i Info) SameAgent(o Info) bool {
	return i.Host == o.Host && i.StateDir == o.StateDir && i.Source == o.Source
}

func (i Info) String() string {
	return fmt.Sprintf("pid %d on host %s (state dir %s, source %s)", i.PID, i.Host, i.StateDir, i.Source)
}

// Errors.
var (
	// ErrHeld: another live agent holds the lease. The error is a *HeldError.
	ErrHeld = errors.New("store is leased to another walship agent")
	// ErrLost: someone else took the lease over while we held it.
	ErrLost = errors.New("lease lost to another walship agent")
	// ErrUnsupported: the store offers no conditional writes, so no lease.
	ErrUnsupported = errors.ErrUnsupported
	// ErrUnreadable: the lease object is not a lease record this walship
	// reads (foreign, damaged or newer); only a takeover replaces it.
	ErrUnreadable = errors.New("lease record unreadable")
)

// HeldError says who holds a lease Acquire could not take.
type HeldError struct {
	Store   string
	Holder  Info
	Expires time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is in use by another walship agent: %s holds its lease until %s; "+
		"two agents on one prefix would mix their logs. Use another prefix, or --takeover if that agent is gone",
		e.Store, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// Lease is a held lease on one store. Its methods are safe for concurrent
// use.
type Lease struct {
	st     backends.Store
	sw     backends.Swapper
	holder Info
	ttl    time.Duration
	now    func() time.Time

	mu       sync.Mutex
	rec      record
	version  string
	lost     chan struct{}
	lostErr  error
	released bool
}

// Acquire takes the lease on st for holder, for ttl (DefaultTTL if <= 0).
// It succeeds when there is no lease, when the lease is released, expired
// or held by the same agent (SameAgent), or when takeover is set; else it
// returns a *HeldError (ErrHeld) naming the holder and the expiry. A store
// without conditional writes returns an error matching ErrUnsupported.
// Each remote call runs under ctx and at most ttl/3.
func Acquire(ctx context.Context, st backends.Store, holder Info, ttl time.Duration, takeover bool) (*Lease, error) {
	return acquire(ctx, st, holder, ttl, takeover, time.Now)
}

func acquire(ctx context.Context, st backends.Store, holder Info, ttl time.Duration, takeover bool, now func() time.Time) (*Lease, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	sw, ok := backends.AsSwapper(st)
	if !ok {
		return nil, fmt.Errorf("lease %s: %s offers no conditional writes: %w", Key, st, ErrUnsupported)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	l := &Lease{st: st, sw: sw, holder: holder, ttl: ttl, now: now, lost: make(chan struct{})}
	// A lost race means someone wrote between our read and our write:
	// read again and judge the new record. A few rounds settle any race.
	for range 5 {
		cur, ver, err := l.read(ctx)
		var gen uint64
		switch {
		case backends.IsNotFound(err):
			ver = ""
		case err != nil && !takeover:
			return nil, err
		case err != nil: // unreadable record, --takeover: replace it
			if ver == "" {
				return nil, err
			}
		default:
			gen = cur.Generation
			t := now()
			free := cur.Released || !t.Before(cur.Expires) || cur.Holder.SameAgent(holder)
			if !free && !takeover {
				return nil, &HeldError{Store: st.String(), Holder: cur.Holder, Expires: cur.Expires}
			}
		}
		t := now().UTC()
		rec := record{Format: Format, Version: Version, Holder: holder, Token: token, Generation: gen + 1,
			Acquired: t, Renewed: t, Expires: t.Add(ttl)}
		v, err := l.write(ctx, rec, ver)
		if backends.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		l.rec, l.version = rec, v
		return l, nil
	}
	return nil, fmt.Errorf("lease %s on %s: another agent keeps replacing it; try again", Key, st)
}

// read fetches and decodes the record. A record that does not decode comes
// back as an error with its version, so --takeover can replace it.
func (l *Lease) read(ctx context.Context) (record, string, error) {
	cctx, cancel := context.WithTimeout(ctx, l.callTimeout())
	defer cancel()
	b, ver, err := l.sw.GetVersion(cctx, Key)
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return record{}, "", fmt.Errorf("lease %s: %w", Key, err)
		}
		return record{}, "", fmt.Errorf("read lease %s on %s: %w", Key, l.st, err)
	}
	var rec record
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rec); err != nil || rec.Format != Format {
		return record{}, ver, fmt.Errorf("%w: %s on %s is not a walship lease record (%v): use --takeover to replace it", ErrUnreadable, Key, l.st, err)
	}
	if rec.Version != Version {
		return record{}, ver, fmt.Errorf("%w: %s on %s has format version %d (this walship knows %d): upgrade walship, or --takeover", ErrUnreadable, Key, l.st, rec.Version, Version)
	}
	return rec, ver, nil
}

func (l *Lease) write(ctx context.Context, rec record, match string) (string, error) {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode lease: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, l.callTimeout())
	defer cancel()
	v, err := l.sw.PutIf(cctx, Key, bytes.NewReader(b), int64(len(b)), match)
	if err != nil && !backends.IsConflict(err) {
		return "", fmt.Errorf("write lease %s on %s: %w", Key, l.st, err)
	}
	return v, err
}

func (l *Lease) callTimeout() time.Duration { return max(l.ttl/3, time.Second) }

func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Store returns the store the lease is on.
func (l *Lease) Store() backends.Store { return l.st }

// TTL returns the lease's duration; renew every TTL/3.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Expires returns when the lease ends unless renewed.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Expires
}

// Lost is closed when the lease is found taken over; Err then says by whom.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err returns why the lease was lost, or nil.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Renew extends the lease by its TTL. It returns an ErrLost error (and
// closes Lost) when another agent replaced the lease; any other error is a
// failed attempt (the store unreachable), and the lease stays held until
// it expires or a later Renew finds it taken.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lostErr != nil {
		return l.lostErr
	}
	if l.released {
		return fmt.Errorf("renew lease %s on %s: released", Key, l.st)
	}
	t := l.now().UTC()
	rec := l.rec
	rec.Generation++
	rec.Renewed, rec.Expires = t, t.Add(l.ttl)
	v, err := l.write(ctx, rec, l.version)
	if err == nil {
		l.rec, l.version = rec, v
		return nil
	}
	if !backends.IsConflict(err) {
		// The write may have landed with its answer lost: the next Renew
		// sees a conflict and reconciles.
		return err
	}
	return l.reconcile(ctx)
}

// reconcile runs after a refused write: the stored record is either ours
// (an earlier write landed though its answer was lost) or someone else's.
func (l *Lease) reconcile(ctx context.Context) error {
	cur, ver, err := l.read(ctx)
	switch {
	case err == nil && cur.Token == l.rec.Token && !cur.Released:
		l.rec, l.version = cur, ver
		return l.renewAgain(ctx)
	case err == nil:
		return l.markLost(fmt.Errorf("%w: %s: %s took the lease %s (until %s)", ErrLost, l.st, cur.Holder, Key, cur.Expires.UTC().Format(time.RFC3339)))
	case backends.IsNotFound(err):
		return l.markLost(fmt.Errorf("%w: %s: lease %s was deleted", ErrLost, l.st, Key))
	case ver != "":
		return l.markLost(fmt.Errorf("%w: %s: lease %s was replaced by something else: %v", ErrLost, l.st, Key, err))
	}
	return err
}

func (l *Lease) renewAgain(ctx context.Context) error {
	t := l.now().UTC()
	rec := l.rec
	rec.Generation++
	rec.Renewed, rec.Expires = t, t.Add(l.ttl)
	v, err := l.write(ctx, rec, l.version)
	if err == nil {
		l.rec, l.version = rec, v
		return nil
	}
	if backends.IsConflict(err) {
		return l.markLost(fmt.Errorf("%w: %s: lease %s changed twice during renewal", ErrLost, l.st, Key))
	}
	return err
}

func (l *Lease) markLost(err error) error {
	if l.lostErr == nil {
		l.lostErr = err
		close(l.lost)
	}
	return err
}

// Release gives the lease up (it stays as a released record, so the next
// agent takes it at once). A lease already lost is left alone.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lostErr != nil || l.released {
		return nil
	}
	t := l.now().UTC()
	rec := l.rec
	rec.Generation++
	rec.Renewed, rec.Expires, rec.Released = t, t, true
	v, err := l.write(ctx, rec, l.version)
	if backends.IsConflict(err) {
		return nil // someone took it over, or our last renewal's answer was lost: nothing to give up
	}
	if err != nil {
		return err
	}
	l.rec, l.version, l.released = rec, v, true
	return nil
}
