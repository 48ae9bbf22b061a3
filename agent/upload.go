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

// ship uploads one spool item and verifies the stored object's size and
// header (which carries the payload's SHA-256) against the local copy. The
// newest segment goes at high priority; a backlog being caught up at low
// priority, so live WAL shipping to other stores is not held up by it.
func (s *shipper) ship(ctx context.Context, item string) error {
	name, err := parseItem(item)
	if err != nil {
		return err
	}
	if !s.a.isNewest(item) {
		ctx = throttle.WithPriority(ctx, throttle.Low)
	}
	if err := s.a.leases.ready(ctx, s.id); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %v", errNoLease, err)
	}
	if err := s.checkUnused(ctx); err != nil {
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
	if err := s.verify(ctx, key, fi.Size(), hdr, existed); err != nil {
		return err
	}
	s.a.metrics.uploadedBytes.WithLabelValues(s.store.Name).Add(float64(fi.Size()))
	s.a.metrics.uploadedObjects.WithLabelValues(s.store.Name).Inc()
	return nil
}

// verify checks what the store holds under key, also when it already had
// the key (uploaded before a crash, cursor not yet saved).
func (s *shipper) verify(ctx context.Context, key string, size int64, hdr []byte, existed bool) error {
	oi, err := s.store.Store.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	if oi.Size != size {
		return s.mismatch(existed, key, fmt.Sprintf("%d bytes, sealed %d", oi.Size, size))
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
