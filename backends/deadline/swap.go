package deadline

import (
	"context"
	"io"

	"github.com/walship/walship/backends"
)

var _ backends.Swapper = (*Store)(nil)

// PutIf implements backends.Swapper: inner's PutIf, bounded like Put;
// errors.ErrUnsupported when inner has none.
func (s *Store) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	sw, ok := s.inner.(backends.Swapper)
	if !ok {
		return "", backends.Unsupported("put-if "+key, s.inner)
	}
	w, wctx := s.watch(ctx, s.opt.Op)
	defer w.stop()
	v, err := sw.PutIf(wctx, key, &body{r: r, w: w}, size, match)
	return v, s.result(ctx, w, "put-if", key, err)
}

// GetVersion implements backends.Swapper: inner's GetVersion within Op.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	sw, ok := s.inner.(backends.Swapper)
	if !ok {
		return nil, "", backends.Unsupported("get-version "+key, s.inner)
	}
	w, wctx := s.watch(ctx, 0)
	defer w.stop()
	b, v, err := sw.GetVersion(wctx, key)
	return b, v, s.result(ctx, w, "get-version", key, err)
}
