package mem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/walship/walship/backends"
)

var _ backends.Swapper = (*Store)(nil)

// version is an object's content hash, like a single-part S3 ETag.
func version(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// PutIf implements backends.Swapper: the condition is checked and the
// object replaced under the store's lock.
func (s *Store) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	if err := backends.CheckSwap(key, size); err != nil {
		return "", err
	}
	b, err := backends.ReadSwapBody(ctx, key, r, size)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.objects[key]
	if match == "" && ok || match != "" && (!ok || version(cur.b) != match) {
		return "", backends.Conflict(key, match)
	}
	s.objects[key] = newObject(bytes.Clone(b))
	return version(b), nil
}

// GetVersion implements backends.Swapper.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := backends.ValidKey(key); err != nil {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %w", key, err))
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("get-version %s: %w", key, err)
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, "", fmt.Errorf("get-version %s: %w", key, backends.ErrNotFound)
	}
	b := o.b
	if len(b) > backends.MaxSwapSize {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: object exceeds %d bytes", key, backends.MaxSwapSize))
	}
	return bytes.Clone(b), version(b), nil
}
