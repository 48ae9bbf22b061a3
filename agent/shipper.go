package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// errConflict: a store holds an object under walship's key that is not the
// one walship sealed. Retrying cannot fix that; an operator must look.
var errConflict = errors.New("store holds a different object under the same key")

// shipper uploads spool items, in key order, to one store and advances that
// store's cursor after each verified upload.
type shipper struct {
	a       *Agent
	store   Store
	id      string
	notify  chan struct{}
	records map[uint32]bool // timeline records known to be in the store
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
		item, ok := s.a.nextItem(s.id)
		if !ok {
			select {
			case <-s.a.sealerDone:
				if _, ok := s.a.nextItem(s.id); !ok {
					return nil
				}
			case <-s.notify:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if err := s.shipWithRetry(ctx, item); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := s.a.advance(s.id, item); err != nil {
			return err
		}
	}
}

// nextItem returns the first sealed item after the store's cursor.
func (a *Agent) nextItem(id string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.st.Cursors[id]
	for _, it := range a.items {
		if it > cur {
			return it, true
		}
	}
	return "", false
}

// advance records item as shipped to the store and drops spool items every
// store has.
func (a *Agent) advance(id, item string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.Cursors[id] = item
	if n, err := parseItem(item); err == nil {
		a.st.Shipped[id] = Position{Index: n.Last}
	}
	if err := a.saveState(); err != nil {
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

// gcSpoolLocked removes spool items that every configured store has; the
// cursors that prove it were saved before.
func (a *Agent) gcSpoolLocked() {
	for len(a.items) > 0 {
		it := a.items[0]
		for _, s := range a.opt.Stores {
			if a.st.Cursors[s.Store.String()] < it {
				return
			}
		}
		if err := a.spool.remove(it); err != nil {
			a.log.Warn("spool cleanup failed", "item", it, "err", err)
			return
		}
		a.items = a.items[1:]
	}
}

// shipWithRetry retries transient failures with capped, jittered
// exponential backoff until ctx ends. A conflict is returned at once.
func (s *shipper) shipWithRetry(ctx context.Context, item string) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.ship(ctx, item)
		if err == nil {
			if attempt > 1 {
				s.a.log.Info("store recovered", "store", s.store.Name, "item", item, "attempts", attempt)
			}
			return nil
		}
		if errors.Is(err, errConflict) || ctx.Err() != nil {
			return err
		}
		s.a.log.Warn("upload failed; retrying", "store", s.store.Name, "item", item, "attempt", attempt,
			"retry_in", backoff, "err", err)
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// ship uploads one spool item and verifies the stored object's size and
// header (which carries the payload's SHA-256) against the local copy.
func (s *shipper) ship(ctx context.Context, item string) error {
	name, err := parseItem(item)
	if err != nil {
		return err
	}
	if err := s.ensureTimelines(ctx, name.Timeline); err != nil {
		return err
	}
	f, err := os.Open(s.a.spool.path(item))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	hdr := make([]byte, segments.HeaderSizeV1)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return fmt.Errorf("spool %s: read header: %w", item, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	key := name.Key()
	err = s.store.Store.Put(ctx, key, f, fi.Size())
	existed := backends.IsExists(err)
	if err != nil && !existed {
		return err
	}
	// Verify what the store now holds, also when it already had the key
	// (uploaded before a crash, cursor not yet saved).
	oi, err := s.store.Store.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	if oi.Size != fi.Size() {
		return s.mismatch(existed, key, fmt.Sprintf("%d bytes, sealed %d", oi.Size, fi.Size()))
	}
	rc, err := s.store.Store.Get(ctx, key, 0, int64(len(hdr)))
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	if !bytes.Equal(got, hdr) {
		return s.mismatch(existed, key, "header/checksum differs from the sealed segment")
	}
	return nil
}

func (s *shipper) mismatch(existed bool, key, what string) error {
	if existed {
		return fmt.Errorf("store %s, object %s: %w (%s); is another agent writing to this prefix?", s.store.Name, key, errConflict, what)
	}
	return fmt.Errorf("verify %s after upload: %s", key, what)
}

// ensureTimelines puts the records of tl and its ancestors before the first
// segment of tl goes to the store.
func (s *shipper) ensureTimelines(ctx context.Context, tl uint32) error {
	if s.records[tl] {
		return nil
	}
	s.a.mu.Lock()
	chain := s.a.st.chain(tl)
	s.a.mu.Unlock()
	for i := len(chain) - 1; i >= 0; i-- {
		t := chain[i]
		if s.records[t.ID] {
			continue
		}
		b, err := segments.EncodeTimeline(t)
		if err != nil {
			return err
		}
		key := segments.TimelineKey(t.ID)
		err = s.store.Store.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
		if backends.IsExists(err) {
			err = s.sameTimeline(ctx, key, t)
		}
		if err != nil {
			return err
		}
		s.records[t.ID] = true
	}
	return nil
}

func (s *shipper) sameTimeline(ctx context.Context, key string, t segments.Timeline) error {
	rc, err := s.store.Store.Get(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	rc.Close()
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	got, err := segments.DecodeTimeline(b)
	if err != nil || got.ID != t.ID || got.Parent != t.Parent || got.ForkIndex != t.ForkIndex || got.StartIndex != t.StartIndex {
		return fmt.Errorf("store %s, object %s: %w (timeline record differs: %+v); is another agent writing to this prefix?", s.store.Name, key, errConflict, got)
	}
	return nil
}
