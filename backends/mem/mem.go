// Package mem is an in-memory backends.Store for fast unit tests. It keeps
// the Store contract exactly (atomic, no-overwrite Put; ordered List) so code
// tested against it behaves the same on a real store.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walship/walship/backends"
)

// Store holds objects in a map guarded by a mutex.
type Store struct {
	mu      sync.RWMutex
	objects map[string]object
	name    string
}

// object is one stored object: its bytes and when it was written.
type object struct {
	b   []byte
	mod time.Time // UTC
}

// newObject stamps b with the time of the write.
func newObject(b []byte) object { return object{b: b, mod: time.Now().UTC()} }

var stores atomic.Int64

var _ backends.Store = (*Store)(nil)

// New returns an empty store.
// Each store gets its own name ("mem://N"), so several can be configured at
// once.
func New() *Store {
	return &Store{objects: make(map[string]object), name: fmt.Sprintf("mem://%d", stores.Add(1))}
}

// Put implements backends.Store.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("put %s: read body: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("put %s: body has %d bytes, want %d", key, n, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return fmt.Errorf("put %s: %w", key, backends.ErrExists)
	}
	s.objects[key] = newObject(buf.Bytes())
	return nil
}

// Get implements backends.Store.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, backends.ErrNotFound)
	}
	b := o.b
	if offset < 0 || offset > int64(len(b)) {
		return nil, backends.Permanent(fmt.Errorf("get %s: offset %d outside object of %d bytes", key, offset, len(b)))
	}
	b = b[offset:]
	if length >= 0 && length < int64(len(b)) {
		b = b[:length]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Stat implements backends.Store.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return backends.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return backends.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, backends.ErrNotFound)
	}
	return backends.ObjectInfo{Key: key, Size: int64(len(o.b)), ModTime: o.mod}, nil
}

// List implements backends.Store.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	s.mu.RLock()
	var infos []backends.ObjectInfo
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) && k > after {
			infos = append(infos, backends.ObjectInfo{Key: k, Size: int64(len(o.b)), ModTime: o.mod})
		}
	}
	s.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, oi := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements backends.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	s.mu.Lock()
	delete(s.objects, key)
	s.mu.Unlock()
	return nil
}

// Corrupt flips one bit of a stored object, for tests of damage detection.
// The object keeps its ModTime: rot is not a write.
func (s *Store) Corrupt(key string, offset int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok || offset >= len(o.b) {
		return fmt.Errorf("corrupt %s: %w", key, backends.ErrNotFound)
	}
	c := bytes.Clone(o.b)
	c[offset] ^= 0x01
	s.objects[key] = object{b: c, mod: o.mod}
	return nil
}

// String implements backends.Store.
func (s *Store) String() string { return s.name }

// Close implements backends.Store.
func (s *Store) Close() error { return nil }
