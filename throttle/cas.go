package throttle

import (
	"context"
	"fmt"
	"io"

	"github.com/walship/walship/backends"
)

var _ backends.Swapper = (*throttledStore)(nil)

// PutIf implements backends.Swapper: one request token and the body's
// upload tokens, then inner's PutIf; errors.ErrUnsupported when inner has
// none.
func (s *throttledStore) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	sw, ok := s.inner.(backends.Swapper)
	if !ok {
		return "", backends.Unsupported("put-if "+key, s.inner)
	}
	if err := s.request(ctx); err != nil {
		return "", fmt.Errorf("put-if %s: %w", key, err)
	}
	body := &readSeeker{
		reader: reader{ctx: ctx, r: r, dir: upload, p: PriorityFrom(ctx), lims: s.lims},
		s:      r,
	}
	return sw.PutIf(ctx, key, body, size, match)
}

// GetVersion implements backends.Swapper: one request token, then inner's
// GetVersion (the record is small: its bytes are not metered).
func (s *throttledStore) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	sw, ok := s.inner.(backends.Swapper)
	if !ok {
		return nil, "", backends.Unsupported("get-version "+key, s.inner)
	}
	if err := s.request(ctx); err != nil {
		return nil, "", fmt.Errorf("get-version %s: %w", key, err)
	}
	return sw.GetVersion(ctx, key)
}
