package metered

import (
	"context"
	"io"

	"github.com/walship/walship/backends"
)

var _ backends.Swapper = (*Store)(nil)

// PutIf implements backends.Swapper, counted as a put (BytesUp on
// success). Without a Swapper inside it fails with errors.ErrUnsupported.
func (s *Store) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	s.put.calls.Add(1)
	sw, ok := s.inner.(backends.Swapper)
	if !ok {
		err := backends.Unsupported("put-if "+key, s.inner)
		s.put.done(err)
		return "", err
	}
	v, err := sw.PutIf(ctx, key, r, size, match)
	s.put.done(err)
	if err == nil {
		s.bytesUp.Add(size)
	}
	return v, err
}

// GetVersion implements backends.Swapper, counted as a get (BytesDown: the
// object's size). Without a Swapper inside it fails with
// errors.ErrUnsupported.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	s.get.calls.Add(1)
	sw, ok := s.inner.(backends.Swapper)
	if !ok {
		err := backends.Unsupported("get-version "+key, s.inner)
		s.get.done(err)
		return nil, "", err
	}
	b, v, err := sw.GetVersion(ctx, key)
	s.get.done(err)
	s.bytesDown.Add(int64(len(b)))
	return b, v, err
}
