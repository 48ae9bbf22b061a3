package gcs

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"

	"cloud.google.com/go/storage"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

var _ backends.Swapper = (*Store)(nil)

// PutIf implements backends.Swapper with one upload carrying
// ifGenerationMatch=0 (match == "") or ifGenerationMatch=GENERATION. The
// service's 412 is the only judge (it also answers 412 when the object to
// replace is gone): nothing is checked before the request. Versions are
// generations in decimal; a match that is not one cannot name any object
// and fails like a stale version, without a request.
func (s *Store) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	if err := backends.CheckSwap(key, size); err != nil {
		return "", err
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	b, err := backends.ReadSwapBody(ctx, key, r, size)
	if err != nil {
		return "", err
	}
	cond := storage.Conditions{DoesNotExist: true}
	if match != "" {
		gen, err := strconv.ParseInt(match, 10, 64)
		if err != nil || gen <= 0 {
			return "", backends.Conflict(key, match)
		}
		cond = storage.Conditions{GenerationMatch: gen}
	}
	attrs, err := s.write(ctx, s.prefix+key, bytes.NewReader(b), size, crc32.Checksum(b, castagnoli), cond, "application/json")
	if err != nil {
		if code, _, _ := status(err); code == 412 || code == 409 {
			return "", backends.Conflict(key, match)
		}
		return "", s.classify("put-if", key, err)
	}
	if attrs.Generation == 0 {
		return "", backends.Permanent(fmt.Errorf("put-if %s: %s answered without a generation: conditional writes need one", key, s))
	}
	return strconv.FormatInt(attrs.Generation, 10), nil
}

// GetVersion implements backends.Swapper: one read, its body and the
// generation it came from.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := backends.ValidKey(key); err != nil {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	rd, err := s.bucket.Object(s.prefix + key).NewReader(ctx)
	if err != nil {
		return nil, "", s.classify("get-version", key, err)
	}
	defer rd.Close()
	b, err := backends.ReadSwapObject(key, rd)
	if err != nil {
		return nil, "", err
	}
	if rd.Attrs.Generation == 0 {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %s answered without a generation", key, s))
	}
	return b, strconv.FormatInt(rd.Attrs.Generation, 10), nil
}
