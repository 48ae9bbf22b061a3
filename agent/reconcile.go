package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// reconcile compares what the store holds with what it should hold after
// its cursor (the pending spool items): items the store already has, intact,
// advance the cursor without an upload; missing ones are uploaded once each.
// Any failure ends the run; the caller waits and runs it again.
func (s *shipper) reconcile(ctx context.Context) error {
	if err := s.checkUnused(ctx); err != nil {
		return err
	}
	pending := s.a.pendingItems(s.id)
	// have maps the key an item would get to the key holding it: itself,
	// or the newest generation walship migrate wrote of it (a copy in
	// the current format; uploading the item again would bring the old
	// format back).
	have := map[string]string{}
	listed := map[uint32]bool{}
	for _, item := range pending {
		n, err := parseItem(item)
		if err != nil {
			return err
		}
		if listed[n.Timeline] {
			continue
		}
		listed[n.Timeline] = true
		err = s.store.Store.List(ctx, segments.TimelinePrefix(n.Timeline), segments.SeekKey(n.Timeline, n.First),
			func(oi backends.ObjectInfo) error {
				n, err := segments.ParseSegmentKey(oi.Key)
				if err != nil {
					return nil
				}
				fam := n.Family().Key()
				if cur, ok := have[fam]; !ok || generation(cur) < n.Gen {
					have[fam] = oi.Key
				}
				return nil
			})
		if err != nil {
			return fmt.Errorf("reconcile: %w", err) // the store names the listing
		}
	}
	if len(pending) == 0 { // nothing owed: a successful listing proves the store answers
		if err := s.store.Store.List(ctx, segments.TimelinesPrefix, "", func(backends.ObjectInfo) error { return errStop }); err != nil && err != errStop {
			return fmt.Errorf("reconcile: %w", err)
		}
	}
	uploaded, adopted := 0, 0
	for _, item := range pending {
		if !s.a.hasItem(item) {
			continue // dropped for the spool bound meanwhile
		}
		n, _ := parseItem(item)
		if key, ok := have[n.Key()]; ok {
			lc, err := s.local(item)
			if errors.Is(err, errItemGone) {
				continue
			}
			if err != nil {
				return err
			}
			if err := s.ensureTimelines(ctx, n.Timeline); err != nil {
				return err
			}
			if err := s.verifyExisting(ctx, key, lc); err != nil {
				return err
			}
			adopted++
			if err := s.shipped(item); err != nil {
				return err
			}
			continue
		}
		if err := s.ship(ctx, item); err != nil {
			return err
		}
		uploaded++
		if err := s.shipped(item); err != nil {
			return err
		}
	}
	s.a.log.Info("reconciled", "store", s.store.Name, "pending", len(pending), "already_there", adopted, "uploaded", uploaded)
	return nil
}

// generation is the generation a listed segment key names.
func generation(key string) uint32 {
	n, _ := segments.ParseSegmentKey(key)
	return n.Gen
}
