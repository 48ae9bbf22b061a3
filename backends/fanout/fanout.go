// Package fanout writes one object stream to several stores at once: a
// base snapshot is captured once and stored in every store. Put succeeds
// only when every member holds the object (an existing identical key counts:
// objects are content-addressed or create-only), so a caller that writes a
// manifest last writes it only after every member holds the chunks.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/walship/walship/backends"
)

// Store writes to all members and reads from the first.
type Store struct {
	members []backends.Store
}

var _ backends.Store = (*Store)(nil)

// New returns a fan-out over members (at least one).
func New(members ...backends.Store) *Store { return &Store{members: members} }

// Put stores the object in every member, in turn (r is rewound for each).
// A member that already has the key is fine; the first other failure ends
// the Put with that member named. It never returns ErrExists: callers of a
// fan-out only need to know that every member holds the key.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	for _, m := range s.members {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("put %s: rewind: %w", key, err)
		}
		if err := m.Put(ctx, key, r, size); err != nil && !backends.IsExists(err) {
			return fmt.Errorf("put %s to %s: %w", key, m, err)
		}
	}
	return nil
}

// Get reads from the first member.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return s.members[0].Get(ctx, key, offset, length)
}

// Stat succeeds only if every member holds the key; it returns the first
// member's info.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	var first backends.ObjectInfo
	for i, m := range s.members {
		oi, err := m.Stat(ctx, key)
		if err != nil {
			return oi, fmt.Errorf("stat %s in %s: %w", key, m, err)
		}
		if i == 0 {
			first = oi
		}
	}
	return first, nil
}

// List returns the keys every member holds (the intersection), so a caller
// that skips what is "already stored" uploads what any member lacks.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	count := map[string]int{}
	infos := map[string]backends.ObjectInfo{}
	var order []string
	for i, m := range s.members {
		err := m.List(ctx, prefix, after, func(oi backends.ObjectInfo) error {
			if i == 0 {
				order = append(order, oi.Key)
				infos[oi.Key] = oi
			}
			count[oi.Key]++
			return nil
		})
		if err != nil {
			return fmt.Errorf("list %s in %s: %w", prefix, m, err)
		}
	}
	for _, k := range order {
		if count[k] == len(s.members) {
			if err := fn(infos[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes key from every member.
func (s *Store) Delete(ctx context.Context, key string) error {
	var errs []error
	for _, m := range s.members {
		if err := m.Delete(ctx, key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// String names the members.
func (s *Store) String() string {
	names := make([]string, len(s.members))
	for i, m := range s.members {
		names[i] = m.String()
	}
	return "fanout(" + strings.Join(names, ", ") + ")"
}

// Close does nothing: the members belong to the caller.
func (s *Store) Close() error { return nil }
