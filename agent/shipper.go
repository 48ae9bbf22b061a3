package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// errConflict: a store holds an object under walship's key that is not the
// one walship sealed. Retrying cannot fix that; an operator must look.
var errConflict = errors.New("store holds a different object under the same key")

// shipper uploads spool items, in key order, to one store and advances that
// store's cursor after each verified upload. Its states:
//
//	healthy --(RetryAttempts failures of one upload)--> degraded
//	degraded: reconcile (list the store, upload what is missing) with backoff
//	          up to ReconcileMaxBackoff --(a run succeeds)--> healthy
//
// Each transition is logged and counted. A store that fails never holds up
// another: every store has its own shipper and cursor.
type shipper struct {
	a        *Agent
	store    Store
	id       string
	notify   chan struct{}
	records  map[uint32]bool // timeline records known to be in the store
	degraded atomic.Bool
	// compaction learns which timelines got segments.
	compaction *compactState
	// prep serializes what precedes each upload (lease, records) among
	// the uploads in flight.
	prep sync.Mutex
	// unusedChecked: a fresh agent saw no other backup in the store.
	unusedChecked bool
	// set is the store's recipient set; nil for a plain store.
	set *recipientSet
}

func newShipper(a *Agent, s Store) *shipper {
	return &shipper{a: a, store: s, id: s.Store.String(), notify: make(chan struct{}, 1), records: map[uint32]bool{}}
}

func (s *shipper) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// run ships until ctx ends, or until the sealer stopped and nothing is left.
func (s *shipper) run(ctx context.Context) error {
	for {
		if s.a.itemAfter(s.id, "") == "" {
			select {
			case <-s.a.sealerDone:
				if s.a.itemAfter(s.id, "") == "" {
					return nil
				}
			case <-s.notify:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		item, err, fatal := s.shipWindow(ctx)
		if fatal != nil {
			return fatal
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errUsedStore) {
			return err // a misconfiguration: stop and say so
		}
		if errors.Is(err, errNoLease) {
			s.stopNoLease(err)
			return nil
		}
		if err == nil {
			continue
		}
		s.degraded.Store(true)
		s.a.log.Error("store degraded: retry bound reached; reconciling with backoff", "store", s.store.Name,
			"item", item, "attempts", s.a.opt.RetryAttempts, "err", err)
		if err := s.reconcileLoop(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errNoLease) {
				s.stopNoLease(err)
				return nil
			}
			return err
		}
		if s.degraded.Load() {
			return nil // stopped while degraded (shutdown)
		}
	}
}

// shipWindow uploads the items after the cursor, in order, keeping up to
// UploadsInFlight of them in flight (each with its retries): as soon as one
// finishes the next starts, and the cursor advances in order over those
// that succeeded, never past one that has not. Uploads may run ahead of the
// cursor by at most windowSpan items, so one slow upload holds back a
// bounded number of others. It returns when no item is left, or at the
// first failed upload in order (its name and error), once the uploads in
// flight have ended; no new one starts after a failure. Uploads after a
// failed one are in the store already and are found there by the reconcile
// that follows. fatal is a failure to record an upload (the state dir).
//
//	cursor -> [done][in flight][done][in flight] ... <- next to start
//	          '---- at most windowSpan items, UploadsInFlight in flight
func (s *shipper) shipWindow(ctx context.Context) (failed string, err, fatal error) {
	type upload struct {
		item string
		err  error
		done bool
	}
	n := max(s.a.opt.UploadsInFlight, 1)
	span := windowSpan(n)
	finished := make(chan *upload, span)
	var window []*upload // started, in item order, not yet advanced over
	last, inFlight, stop := "", 0, false
	defer func() { // nothing runs on after return
		for ; inFlight > 0; inFlight-- {
			<-finished
		}
	}()
	for {
		for !stop && inFlight < n && len(window) < span {
			it := s.a.itemAfter(s.id, last)
			if it == "" {
				break
			}
			u := &upload{item: it}
			window, last = append(window, u), it
			inFlight++
			go func() {
				u.err = s.shipWithRetry(ctx, u.item)
				finished <- u
			}()
		}
		if inFlight == 0 && (stop || len(window) == 0) {
			return "", nil, nil
		}
		var u *upload
		select {
		case u = <-finished:
		case <-s.notify: // sealed since: fill the window again
			continue
		}
		inFlight--
		u.done = true
		if u.err != nil {
			stop = true
		}
		for len(window) > 0 && window[0].done {
			w := window[0]
			window = window[1:]
			if w.err != nil {
				return w.item, w.err, nil
			}
			if err := s.shipped(w.item); err != nil {
				return w.item, nil, err
			}
		}
	}
}

// windowSpan is how far uploads run ahead of the cursor with n in flight.
func windowSpan(n int) int { return 4 * n }

// errNoLease: another agent holds the store's lease, or took it over.
var errNoLease = errors.New("store leased to another agent")

// stopNoLease ends shipping to a store another agent holds: the others go
// on; the store is reported degraded, its spool items are dropped for it at
// the spool bound like any degraded store's.
func (s *shipper) stopNoLease(err error) {
	s.degraded.Store(true)
	s.a.log.Error("not shipping to this store: another agent holds its lease", "store", s.store.Name, "err", err)
}

// awaitLease waits until the store's lease allows uploads. A lease left to
// run down while the agent was idle is renewed first, waited for at most
// renewWait. While it waits longer, or for a lease not
// acquired yet (the store has not answered since start), the store counts
// as degraded: the spool bound may drop segments for it, recorded as a
// gap, so it never holds up the sealer and with it the healthy stores.
func (s *shipper) awaitLease(ctx context.Context) error {
	if s.a.leases.writable(s.id) {
		return nil
	}
	if s.a.leases.held(s.id) {
		rctx, cancel := context.WithTimeout(ctx, s.a.leases.renewWait())
		err := s.a.leases.ready(rctx, s.id)
		cancel()
		if err == nil || ctx.Err() != nil || rctx.Err() == nil {
			return err // renewed, stopping, or lost to another agent
		}
	}
	marked := !s.degraded.Load()
	if marked {
		s.degraded.Store(true)
		s.a.log.Warn("store degraded: its lease is not acquired yet (store unreachable?); segments may be dropped for it at the spool bound",
			"store", s.store.Name)
	}
	err := s.a.leases.ready(ctx, s.id)
	if marked && err == nil {
		s.degraded.Store(false)
		s.a.log.Info("store lease acquired: shipping again", "store", s.store.Name)
	}
	return err
}

// shipped records a verified upload.
func (s *shipper) shipped(item string) error {
	if n, err := parseItem(item); err == nil {
		s.compaction.shippedTo(n.Timeline)
	}
	return s.a.advance(s.id, item, "store "+s.store.Name+" is back after segments were dropped for it (spool bound); its history restarts on this timeline")
}

// shipWithRetry tries one item up to RetryAttempts times with jittered
// exponential backoff. A conflict is not retried.
func (s *shipper) shipWithRetry(ctx context.Context, item string) error {
	backoff := s.a.opt.RetryBackoff
	var err error
	for attempt := 1; attempt <= s.a.opt.RetryAttempts; attempt++ {
		if err = s.ship(ctx, item); err == nil || errors.Is(err, errConflict) || errors.Is(err, errUsedStore) || errors.Is(err, errNoLease) || ctx.Err() != nil {
			return err
		}
		if !s.a.hasItem(item) {
			return nil // dropped meanwhile (spool bound): nothing to retry
		}
		if attempt == s.a.opt.RetryAttempts {
			break
		}
		s.a.metrics.retries.WithLabelValues(s.store.Name).Inc()
		s.a.log.Warn("upload failed; retrying", "store", s.store.Name, "item", item, "attempt", attempt, "err", err)
		if !sleep(ctx, jitter(backoff)) {
			return ctx.Err()
		}
		backoff = min(backoff*2, s.a.opt.RetryMaxBackoff)
	}
	return err
}

// reconcileLoop runs reconciliation until one run succeeds, waiting longer
// after each failure.
func (s *shipper) reconcileLoop(ctx context.Context) error {
	backoff := time.Second
	for {
		s.a.metrics.reconciles.WithLabelValues(s.store.Name).Inc()
		err := s.reconcile(ctx)
		if errors.Is(err, errUsedStore) || errors.Is(err, errNoLease) {
			return err
		}
		if err == nil {
			s.degraded.Store(false)
			s.a.log.Info("store recovered: reconciled, shipping again", "store", s.store.Name)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-s.a.sealerDone: // shutting down: a degraded store does not hold up the exit
			s.a.log.Warn("stopping with the store still degraded; it is reconciled on the next start", "store", s.store.Name, "err", err)
			return nil
		default:
		}
		s.a.log.Warn("reconcile failed; waiting", "store", s.store.Name, "retry_in", backoff, "err", err)
		if !sleep(ctx, jitter(backoff)) {
			return ctx.Err()
		}
		backoff = min(backoff*2, s.a.opt.ReconcileMaxBackoff)
	}
}

func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// itemAfter returns the first sealed item after both the store's cursor
// and after ("": after the cursor only), or "" when there is none.
func (a *Agent) itemAfter(id, after string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	after = max(after, a.st.Cursors[id])
	i, found := slices.BinarySearch(a.items, after)
	if found {
		i++
	}
	if i < len(a.items) {
		return a.items[i]
	}
	return ""
}

// pendingItems returns the sealed items after the store's cursor.
func (a *Agent) pendingItems(id string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.st.Cursors[id]
	var out []string
	for _, it := range a.items {
		if it > cur {
			out = append(out, it)
		}
	}
	return out
}

func (a *Agent) hasItem(item string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.info[item]
	return ok
}

// isNewest reports whether item is the newest sealed segment: live traffic,
// as opposed to a backlog being caught up.
func (a *Agent) isNewest(item string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.items) > 0 && a.items[len(a.items)-1] == item
}

// advance records item as shipped to the store (never moving a cursor
// back) and drops spool items every store has. The first upload after a
// gap makes a new timeline due (why), in the same state save, so a restart
// does not lose it. A state dir too full to save in does not stop it: the
// cursor moves in memory (saved later), and the spool is cleaned all the
// same as far as gcCursor allows.
func (a *Agent) advance(id, item, why string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.verified[id] = max(a.verified[id], item)
	if item <= a.st.Cursors[id] {
		return nil
	}
	a.st.Cursors[id] = item
	if n, err := parseItem(item); err == nil {
		a.st.Shipped[id] = Position{Index: n.Last}
	}
	if a.st.Gapped[id] && a.st.TimelineDue == "" {
		a.st.TimelineDue = why
	}
	delete(a.st.Gapped, id)
	if err := a.saveStateOrDefer(); err != nil {
		return err
	}
	a.gcSpoolLocked()
	return nil
}

func (a *Agent) gcSpool() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gcSpoolLocked()
}

// gcSpoolLocked removes spool items that every configured store has: the
// cursors that prove it were saved before, or the uploads were verified in
// this run (gcCursor). While state.json lags, items sealed after the one it
// names stay, so that a start adopts the newest of them.
func (a *Agent) gcSpoolLocked() {
	defer a.gcVariantsLocked()
	for len(a.items) > 0 {
		it := a.items[0]
		if it > a.saved.sealedItem {
			return
		}
		for _, s := range a.opt.Stores {
			if a.gcCursor(s.Store.String()) < it {
				return
			}
		}
		a.removeVariants(it, a.info[it].variants)
		if err := a.spool.remove(it); err != nil {
			a.log.Warn("spool cleanup failed", "item", it, "err", err)
			return
		}
		a.items = a.items[1:]
		delete(a.info, it)
		select {
		case a.spoolFreed <- struct{}{}:
		default:
		}
	}
}
