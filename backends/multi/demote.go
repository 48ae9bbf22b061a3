package multi

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/walship/walship/backends"
)

// demoteFor is how long a member that failed to answer is tried after the
// others: a store that hangs costs its deadline once, not once per object.
const demoteFor = time.Minute

// health remembers which members recently failed to answer.
type health struct {
	mu    sync.Mutex
	until map[string]time.Time // member name -> tried last until then
}

func (h *health) demote(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until == nil {
		h.until = map[string]time.Time{}
	}
	h.until[name] = time.Now().Add(demoteFor)
}

func (h *health) demoted(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Before(h.until[name])
}

// answered reports whether err is an answer from the store (the object is
// missing, exists, or the call is refused for good) rather than a failure
// to answer (a timeout, a reset, a 5xx). The caller's own cancellation is
// neither: it says nothing of the store.
func answered(ctx context.Context, err error) bool {
	return err == nil || ctx.Err() != nil || backends.IsNotFound(err) || backends.IsExists(err) ||
		errors.Is(err, backends.ErrPermanent)
}

// ordered returns the members in preference order, those that recently
// failed to answer last, each wrapped so a failure to answer demotes it.
func (s *Store) ordered() []Member {
	out := make([]Member, 0, len(s.members))
	var later []Member
	for _, m := range s.members {
		w := Member{Name: m.Name, Store: &watched{Store: m.Store, name: m.Name, h: &s.health}}
		if s.health.demoted(m.Name) {
			later = append(later, w)
		} else {
			out = append(out, w)
		}
	}
	return slices.Concat(out, later)
}

// watched demotes its member when a read fails to get an answer.
type watched struct {
	backends.Store
	name string
	h    *health
}

func (w *watched) note(ctx context.Context, err error) error {
	if !answered(ctx, err) {
		w.h.demote(w.name)
	}
	return err
}

func (w *watched) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := w.Store.Get(ctx, key, off, n)
	if err != nil {
		return nil, w.note(ctx, err)
	}
	return &watchedBody{ReadCloser: rc, w: w, ctx: ctx}, nil
}

func (w *watched) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	oi, err := w.Store.Stat(ctx, key)
	return oi, w.note(ctx, err)
}

func (w *watched) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	return w.note(ctx, w.Store.List(ctx, prefix, after, fn))
}

type watchedBody struct {
	io.ReadCloser
	w   *watched
	ctx context.Context
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.w.note(b.ctx, err)
	}
	return n, err
}
