// Package multi reads one backup from several stores that replicate it.
// Store lists the union of what the stores hold and reads each object from
// the first store, in preference order, that has it. Readers that verify
// what they read (pitr) ask for the replicas of an object with Replicas and
// fall back to the next one when a copy is missing or fails its checksum.
package multi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/walship/walship/backends"
)

// Member is one store and the name it is reported under.
type Member struct {
	Name  string
	Store backends.Store
}

// Store is a read-only union of members. Put and Delete refuse: writes go
// to each store on its own (the agent's shippers), never to "all of them".
type Store struct {
	members []Member
	health  health
}

var _ backends.Store = (*Store)(nil)

// New returns a union of members in preference order.
func New(members ...Member) *Store {
	return &Store{members: members}
}

// Members returns the stores in preference order.
func (s *Store) Members() []Member { return s.members }

// Replicas returns the members in preference order, for readers that
// verify each copy and fall back. Members that recently failed to answer
// come last, and a read through a returned member that fails to get an
// answer (a timeout, a reset) demotes it for the next reads.
func (s *Store) Replicas() []Member { return s.ordered() }

// Replicated is implemented by stores that hold the same objects in several
// places.
type Replicated interface {
	Replicas() []Member
}

// ReplicasOf returns st's replicas, or st alone.
func ReplicasOf(st backends.Store) []Member {
	if r, ok := st.(Replicated); ok {
		return r.Replicas()
	}
	return []Member{{Name: st.String(), Store: st}}
}

// Put implements backends.Store: refused.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	return backends.Permanent(fmt.Errorf("put %s: a multi-store view is read-only", key))
}

// Delete implements backends.Store: refused.
func (s *Store) Delete(ctx context.Context, key string) error {
	return backends.Permanent(fmt.Errorf("delete %s: a multi-store view is read-only", key))
}

// Get reads key from the first member that has it. An error other than
// not-found from one member is remembered and the next member tried.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	var errs []error
	for _, m := range s.ordered() {
		rc, err := m.Store.Get(ctx, key, offset, length)
		if err == nil {
			return rc, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
	}
	return nil, s.joined("get", key, errs)
}

// Stat returns the object's info from the first member that has it.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	var errs []error
	for _, m := range s.ordered() {
		oi, err := m.Store.Stat(ctx, key)
		if err == nil {
			return oi, nil
		}
		if ctx.Err() != nil {
			return oi, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
	}
	return backends.ObjectInfo{}, s.joined("stat", key, errs)
}

// joined is not-found only if every member said not-found.
func (s *Store) joined(op, key string, errs []error) error {
	all := true
	for _, e := range errs {
		if !backends.IsNotFound(e) {
			all = false
		}
	}
	err := errors.Join(errs...)
	if all {
		return fmt.Errorf("%s %s: %w in any of %d stores", op, key, backends.ErrNotFound, len(s.members))
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// List merges the members' listings: every key any member holds, once, in
// order. Members list at once. A member that refuses (bad credentials, a
// missing bucket) is an error: a union that silently drops a store would
// hide its objects. A member that fails to answer (it hangs or is down) is
// left out with a warning when another member listed: readers verify what
// they plan from the listing, so a missing object is then refused, never
// read wrongly.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	type listing struct {
		keys []backends.ObjectInfo
		err  error
	}
	ms := s.ordered()
	res := make([]listing, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].err = m.Store.List(ctx, prefix, after, func(oi backends.ObjectInfo) error {
				res[i].keys = append(res[i].keys, oi)
				return nil
			})
		}()
	}
	wg.Wait()
	listed := 0
	var down []error
	for i, r := range res {
		switch {
		case r.err == nil:
			listed++
		case answered(ctx, r.err):
			return fmt.Errorf("list %s in %s: %w", prefix, ms[i].Name, r.err)
		default:
			down = append(down, fmt.Errorf("%s: %w", ms[i].Name, r.err))
		}
	}
	if listed == 0 {
		return fmt.Errorf("list %s: no store answered: %w", prefix, errors.Join(down...))
	}
	for _, err := range down {
		slog.Warn("a store did not answer its listing; reading from the others", "prefix", prefix, "err", err)
	}
	seen := map[string]backends.ObjectInfo{}
	for _, r := range res {
		for _, oi := range r.keys {
			if _, ok := seen[oi.Key]; !ok {
				seen[oi.Key] = oi
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(seen[k]); err != nil {
			return err
		}
	}
	return nil
}

// String names the members.
func (s *Store) String() string {
	names := make([]string, len(s.members))
	for i, m := range s.members {
		names[i] = m.Name
	}
	return "multi(" + strings.Join(names, ", ") + ")"
}

// Close closes every member.
func (s *Store) Close() error {
	var errs []error
	for _, m := range s.members {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}
