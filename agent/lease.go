package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/lease"
)

// LeaseOptions configure the per-store leases that keep a second agent off
// a prefix this agent ships to (package lease).
type LeaseOptions struct {
	// TTL is how long a lease lasts unrenewed; renewed every TTL/3.
	// Default lease.DefaultTTL.
	TTL time.Duration
	// Takeover takes the leases even from a live holder (--takeover): for
	// when the other agent is known to be gone, or its host is.
	Takeover bool
	// AcquireTimeout bounds the start-up attempt on each store (default
	// 10s); a store that does not answer in time is retried in the
	// background and ships nothing until its lease is held.
	AcquireTimeout time.Duration
	// StartGrace is how long start-up waits for one store's first attempt
	// when there are other stores (default 1s); the attempt goes on in the
	// background.
	StartGrace time.Duration
}

func (o LeaseOptions) withDefaults() LeaseOptions {
	if o.TTL <= 0 {
		o.TTL = lease.DefaultTTL
	}
	if o.AcquireTimeout <= 0 {
		o.AcquireTimeout = 10 * time.Second
	}
	if o.StartGrace <= 0 {
		o.StartGrace = time.Second
	}
	return o
}

// leaseState is where one store's lease stands.
type leaseState int

const (
	leasePending leaseState = iota // not acquired yet (store unreachable): no uploads
	leaseHeld                      // held and renewed: uploads allowed
	leaseNone                      // the store cannot swap: uploads allowed, unguarded
	leaseFailed                    // held by another agent, or lost to one: no uploads, ever
)

// storeLease is one store's lease and its state. changed is closed and
// replaced on every state change and every renewal, so waiters wake.
//
// A held lease is renewed only while the agent writes to the store: a
// renewal period with no write asking for it (used) skips the renewal, so
// an idle agent makes no request. The lease then runs towards its expiry;
// a write that finds less than a renewal period of it left (fresh) wakes
// the renewal and waits for it. If another agent took the lease after it
// expired, that renewal finds it lost, as a renewal while busy would.
type storeLease struct {
	name      string
	store     backends.Store
	firstDone chan struct{} // closed when the start-up attempt has finished
	wake      chan struct{} // renew now (cap 1)

	mu      sync.Mutex
	state   leaseState
	l       *lease.Lease
	err     error
	changed chan struct{}
	used    time.Time // when a write last asked for the lease
	waiting int       // writes waiting in ready for a renewal: in use however long they wait
	// expires is l's expiry as of its last acquisition or renewal (set):
	// read without l's lock, which a renewal holds across its remote call.
	expires time.Time
}

// set records a new state. Call it only when no renewal of l runs (l's
// lock is taken for its expiry).
func (s *storeLease) set(state leaseState, l *lease.Lease, err error) {
	var expires time.Time
	if l != nil {
		expires = l.Expires()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.l, s.err, s.expires = state, l, err, expires
	close(s.changed)
	s.changed = make(chan struct{})
}

// fresh reports whether a held lease has at least margin left before it
// expires. Call with s.mu held.
func (s *storeLease) fresh(margin time.Duration) bool {
	return s.l != nil && time.Until(s.expires) > margin
}

// wakeRenewal asks keep to renew now, without waiting.
func (s *storeLease) wakeRenewal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// leaseSet holds the agent's leases, one per store, keyed by store id
// (Store.String(), as shippers and cursors are).
type leaseSet struct {
	opt    LeaseOptions
	holder lease.Info
	log    *slog.Logger
	byID   map[string]*storeLease
	order  []*storeLease
}

// acquireLeases takes a lease on every store at once, each attempt bounded
// by opt.AcquireTimeout. With several stores it waits for an attempt at
// most opt.StartGrace: a store that has not answered by then is acquired
// in the background (run) and ships nothing until its lease is held, so a
// hung store never holds up another. It returns an error (and holds
// nothing) when a store that answered in time is leased to another live
// agent or holds a lease record it cannot read: that is a second agent on
// the same prefix, and shipping would mix two logs. Found later, the same
// stops that store alone. A store without conditional writes is warned
// about once and shipped to unguarded.
func (a *Agent) acquireLeases(ctx context.Context, opt LeaseOptions) (*leaseSet, error) {
	opt = opt.withDefaults()
	ls := &leaseSet{opt: opt, holder: lease.Self(a.opt.StateDir, a.opt.WALDir), log: a.log, byID: map[string]*storeLease{}}
	for _, s := range a.opt.Stores {
		sl := &storeLease{name: s.Name, store: s.Store, changed: make(chan struct{}), firstDone: make(chan struct{}), wake: make(chan struct{}, 1)}
		ls.byID[s.Store.String()] = sl
		ls.order = append(ls.order, sl)
	}
	errs := make([]error, len(ls.order))
	finished := make(chan int, len(ls.order))
	var late atomic.Bool // acquireLeases has returned
	for i, sl := range ls.order {
		go func() {
			defer close(sl.firstDone)
			errs[i] = ls.try(ctx, sl)
			if errs[i] != nil && late.Load() {
				ls.log.Error("store is leased to another walship agent: not shipping to it", "store", sl.name, "err", errs[i])
			}
			finished <- i
		}()
	}
	var grace <-chan time.Time
	if len(ls.order) > 1 {
		t := time.NewTimer(opt.StartGrace)
		defer t.Stop()
		grace = t.C
	}
	done := make([]bool, len(ls.order))
wait:
	for n := 0; n < len(ls.order); n++ {
		select {
		case i := <-finished:
			done[i] = true
		case <-grace:
			break wait
		}
	}
	late.Store(true)
	for drained := false; !drained; {
		select {
		case i := <-finished:
			done[i] = true
		default:
			drained = true
		}
	}
	var hard []error
	for i := range ls.order {
		if done[i] && errs[i] != nil { // errs[i] is read only once its attempt finished
			hard = append(hard, fmt.Errorf("store %s: %w", ls.order[i].name, errs[i]))
		}
	}
	if len(hard) > 0 {
		for _, sl := range ls.order { // let late attempts finish, so release sees them
			<-sl.firstDone
		}
		ls.release(ctx)
		return nil, errors.Join(hard...)
	}
	return ls, nil
}

// try makes one bounded attempt at sl's lease. It returns an error only
// for a refusal start-up must not get past (held by another agent, an
// unreadable record); every other outcome is recorded in sl.
func (ls *leaseSet) try(ctx context.Context, sl *storeLease) error {
	actx, cancel := context.WithTimeout(ctx, ls.opt.AcquireTimeout)
	defer cancel()
	l, err := lease.Acquire(actx, sl.store, ls.holder, ls.opt.TTL, ls.opt.Takeover)
	switch {
	case err == nil:
		if ls.opt.Takeover {
			ls.log.Warn("store lease taken (--takeover)", "store", sl.name, "expires", l.Expires())
		} else {
			ls.log.Info("store lease held", "store", sl.name, "expires", l.Expires())
		}
		sl.set(leaseHeld, l, nil)
	case errors.Is(err, lease.ErrUnsupported):
		ls.log.Warn("store offers no conditional writes: shipping without a lease; make sure no other walship agent ships to this prefix",
			"store", sl.name)
		sl.set(leaseNone, nil, nil)
	case errors.Is(err, lease.ErrHeld), errors.Is(err, lease.ErrUnreadable):
		sl.set(leaseFailed, nil, err)
		return err
	default:
		if ctx.Err() == nil {
			ls.log.Warn("store lease not acquired yet (store unreachable?): retrying in the background; nothing ships to this store until it is held",
				"store", sl.name, "err", err)
		}
	}
	return nil
}

// run keeps the leases until ctx ends: it retries the pending ones with
// backoff and renews the held ones every TTL/3 while they are used (see
// storeLease), and at once when a write finds one not fresh; each call is
// bounded by TTL/3.
// A lease found taken over (or, for a pending store, found held) is logged
// as an error and that store gets no more uploads (ready returns the
// error). When ctx ends, run releases the held leases, each with its own
// short deadline, and returns. Give it a context that outlives the
// shippers' drain.
func (ls *leaseSet) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, sl := range ls.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls.keep(ctx, sl)
		}()
	}
	wg.Wait()
	ls.release(context.Background())
}

func (ls *leaseSet) keep(ctx context.Context, sl *storeLease) {
	select { // the first attempt may still be running (acquireLeases' grace)
	case <-sl.firstDone:
	case <-ctx.Done():
		return
	}
	every := ls.opt.TTL / 3
	backoff := time.Second
	woken := false
	for {
		sl.mu.Lock()
		state, l, used, waiting := sl.state, sl.l, sl.used, sl.waiting
		sl.mu.Unlock()
		wait := every
		switch state {
		case leaseNone, leaseFailed:
			return
		case leasePending:
			if err := ls.try(ctx, sl); err != nil {
				ls.log.Error("store is leased to another walship agent: not shipping to it", "store", sl.name, "err", err)
				return
			}
			wait, backoff = backoff, min(2*backoff, every)
		case leaseHeld:
			if !woken && waiting == 0 && time.Since(used) >= every {
				break // idle: no renewal, no request (storeLease)
			}
			rctx, cancel := context.WithTimeout(ctx, every)
			err := l.Renew(rctx)
			cancel()
			switch {
			case errors.Is(err, lease.ErrLost):
				ls.log.Error("store lease lost to another walship agent: not shipping to this store any more", "store", sl.name, "err", err)
				sl.set(leaseFailed, nil, err)
				return
			case err != nil && ctx.Err() == nil:
				ls.log.Warn("store lease renewal failed; retrying", "store", sl.name, "expires", l.Expires(), "err", err)
				wait = min(every, 5*time.Second)
			case err == nil:
				sl.set(leaseHeld, l, nil) // wakes writes waiting for a fresh lease
			}
		}
		t := time.NewTimer(wait)
		woken = false
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-sl.wake:
			t.Stop()
			woken = true
		}
	}
}

// ready blocks until the store with id may be shipped to: nil once its
// lease is held and fresh (or the store cannot have one); the holder's
// error when another agent has it or took it; ctx's error when ctx ends
// first. A shipper calls it before each upload. Unknown ids are ready.
func (ls *leaseSet) ready(ctx context.Context, id string) error {
	if ls == nil {
		return nil
	}
	sl, ok := ls.byID[id]
	if !ok {
		return nil
	}
	waiting := false // counted in sl.waiting: keep renews while anyone waits
	defer func() {
		if waiting {
			sl.mu.Lock()
			sl.waiting--
			sl.mu.Unlock()
		}
	}()
	for {
		sl.mu.Lock()
		sl.used = time.Now()
		state, err, changed, fresh := sl.state, sl.err, sl.changed, sl.fresh(ls.opt.TTL/3)
		if state == leaseHeld && !fresh && !waiting {
			sl.waiting++
			waiting = true
		}
		sl.mu.Unlock()
		switch state {
		case leaseHeld:
			if fresh {
				return nil
			}
			sl.wakeRenewal()
		case leaseNone:
			return nil
		case leaseFailed:
			return fmt.Errorf("store %s: %w", sl.name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store %s: waiting for its lease: %w", sl.name, ctx.Err())
		case <-changed:
		}
	}
}

// release gives up every held lease, each call bounded by 5s.
func (ls *leaseSet) release(ctx context.Context) {
	var wg sync.WaitGroup
	for _, sl := range ls.order {
		sl.mu.Lock()
		l, state := sl.l, sl.state
		sl.mu.Unlock()
		if state != leaseHeld || l == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := l.Release(rctx); err != nil {
				ls.log.Warn("store lease not released; it expires on its own", "store", sl.name, "expires", l.Expires(), "err", err)
			}
		}()
	}
	wg.Wait()
}

// writable reports, without waiting, whether the store with id may be
// written now: its lease is held and fresh, or it cannot have one. Call it
// only to write: it counts as a use, which keeps the lease renewed, and a
// held lease that is not fresh is renewed at once (writable is true once
// that is done). Snapshots, prunes and compaction skip a store that is not
// writable.
func (ls *leaseSet) writable(id string) bool {
	if ls == nil {
		return true
	}
	sl, ok := ls.byID[id]
	if !ok {
		return true
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.used = time.Now()
	switch sl.state {
	case leaseNone:
		return true
	case leaseHeld:
		if sl.fresh(ls.opt.TTL / 3) {
			return true
		}
		sl.wakeRenewal()
	}
	return false
}

// renewWait is how long a write waits for the renewal of a lease left to
// run down before it goes on without the store (a shipper: the store
// counts as degraded while it waits on).
func (ls *leaseSet) renewWait() time.Duration { return min(ls.opt.TTL/3, 5*time.Second) }

// freshen renews, all at once, the held leases among ids that are not
// fresh (left to run down while the agent was idle), and waits for them
// at most renewWait: a hung store holds up the others no longer than that.
// Snapshots, prunes and compaction call it before writable.
func (ls *leaseSet) freshen(ctx context.Context, ids ...string) {
	if ls == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ls.renewWait())
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range ids {
		if !ls.held(id) {
			continue
		}
		wg.Go(func() { ls.ready(ctx, id) })
	}
	wg.Wait()
}

// held reports whether the store with id holds its lease, fresh or not.
func (ls *leaseSet) held(id string) bool {
	if ls == nil {
		return false
	}
	sl, ok := ls.byID[id]
	if !ok {
		return false
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.state == leaseHeld
}
