package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/throttle"
)

// ship uploads one spool item: one request in the steady state. A Put that
// returns nil has had the service check every byte against the local copy
// (Store's contract: a CRC32C or Content-MD5, per-part checksums, or a
// local fsync), so nothing is read back. Only when the key exists already (uploaded before
// a crash, cursor not yet saved; or another writer) is the stored object
// compared with the local copy (verifyExisting). An encrypted store gets
// its recipient set's copy of the segment (uploadPath). The newest segment goes at high priority; a backlog being
// caught up at low priority, so live WAL shipping to other stores is not
// held up by it.
func (s *shipper) ship(ctx context.Context, item string) error {
	name, err := parseItem(item)
	if err != nil {
		return err
	}
	if !s.a.isNewest(item) {
		ctx = throttle.WithPriority(ctx, throttle.Low)
	}
	if err := s.prepare(ctx, name.Timeline); err != nil {
		return err
	}
	lc, err := s.local(item)
	if err != nil {
		return err
	}
	f, err := os.Open(lc.path)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != lc.size {
		return fmt.Errorf("spool %s: size changed under the shipper (%v)", lc.path, err)
	}
	key := name.Key()
	err = s.store.Store.Put(ctx, key, f, lc.size)
	if backends.IsExists(err) {
		err = s.verifyExisting(ctx, key, lc)
	}
	if err != nil {
		return err
	}
	s.a.metrics.uploadedBytes.WithLabelValues(s.store.Name).Add(float64(lc.size))
	s.a.metrics.uploadedObjects.WithLabelValues(s.store.Name).Inc()
	return nil
}

func (s *shipper) mismatch(key, what string) error {
	return fmt.Errorf("store %s, object %s: %w (%s); is another agent writing to this prefix?", s.store.Name, key, errConflict, what)
}

// ensureTimelines puts the records of tl and its ancestors before the first
// segment of tl goes to the store.
// prepare does what must precede a segment's upload, once for the uploads
// in flight: the store's lease, the check that a fresh agent's store holds
// no other backup, and the timeline records of the segment's history.
func (s *shipper) prepare(ctx context.Context, tl uint32) error {
	s.prep.Lock()
	defer s.prep.Unlock()
	if err := s.awaitLease(ctx); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %v", errNoLease, err)
	}
	if err := s.checkUnused(ctx); err != nil {
		return err
	}
	return s.ensureTimelines(ctx, tl)
}

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
		b, err := segments.EncodeTimelineFor(t, s.store.Recipients)
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
