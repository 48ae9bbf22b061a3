package minio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// Put implements backends.Store.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	if size < 0 {
		return backends.Permanent(fmt.Errorf("put %s: negative size %d", key, size))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	full := s.prefix + key
	mode := s.cond.Mode(ctx, s.String(), s.condOps())
	if mode != objio.CondHonoured {
		_, err := s.client.StatObject(ctx, s.opt.Bucket, full, minio.StatObjectOptions{})
		if err == nil {
			return fmt.Errorf("put %s: %w", key, backends.ErrExists)
		}
		if err := s.classify("put", key, err); !backends.IsNotFound(err) {
			return err
		}
	}
	return s.put(ctx, key, full, r, size, mode != objio.CondRejected, false)
}

// put sends the object, with If-None-Match: * when cond. A probe's put
// (probe) teaches the digest mode and fails only as any request does.
func (s *Store) put(ctx context.Context, key, full string, r io.ReadSeeker, size int64, cond, probe bool) error {
	opts := minio.PutObjectOptions{
		PartSize:             uint64(s.opt.PartSize),
		NumThreads:           uint(s.opt.Concurrency),
		StorageClass:         s.opt.StorageClass,
		ServerSideEncryption: s.sse,
		ContentType:          "application/octet-stream",
	}
	if cond {
		opts.SetMatchETagExcept("*") // If-None-Match: *
	}
	multipart := size > s.opt.SinglePutMax
	if err := objio.CheckLen(r, size); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	var sum string
	useMD5 := s.digest.MD5()
	if !multipart {
		// One request carrying the digest the server checks
		// (objio.DigestMode): a CRC32C computed here, not by minio-go
		// as it streams, so that bytes changed after this pass are
		// refused, not stored under their own checksum.
		opts.DisableMultipart = true
		if useMD5 {
			opts.SendContentMd5 = true
		} else {
			var err error
			if sum, err = objio.Checked(ctx, r, size, false); err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
			opts.UserMetadata = map[string]string{"x-amz-checksum-crc32c": sum}
		}
	}
	info, err := s.client.PutObject(ctx, s.opt.Bucket, full, objio.Body(r, size), size, opts)
	if err == nil && info.Size != size {
		err = fmt.Errorf("server stored %d bytes, want %d", info.Size, size)
	}
	if err == nil {
		if multipart || useMD5 {
			return nil
		}
		return s.digest.Confirm(s.String(), key, sum, info.ChecksumCRC32C, probe)
	}
	if multipart {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		if aerr := s.client.RemoveIncompleteUpload(actx, s.opt.Bucket, full); aerr != nil && minio.ToErrorResponse(aerr).StatusCode != 404 {
			err = fmt.Errorf("%w (and removing the incomplete upload failed: %v)", err, aerr)
		}
		cancel()
	}
	if errors.Is(err, objio.ErrShortBody) {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	return s.classify("put", key, err)
}

// condOps are the raw writes the conditional-write probe makes.
func (s *Store) condOps() objio.CondOps {
	return objio.CondOps{
		Put: func(ctx context.Context, key string, body []byte, cond bool) error {
			return s.put(ctx, key, s.prefix+key, bytes.NewReader(body), int64(len(body)), cond, true)
		},
		Delete: s.Delete,
		Rejected: func(err error) bool {
			var er minio.ErrorResponse
			return errors.As(err, &er) && (er.Code == "NotImplemented" || er.StatusCode == 501 || er.StatusCode == 400)
		},
	}
}

// Get implements backends.Store.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := objio.CheckGet(key, offset); err != nil {
		return nil, err
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	if length == 0 {
		defer cancel()
		return objio.GetNothing(ctx, key, s.Stat)
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		opts.SetRange(offset, offset+length-1)
	case offset > 0:
		opts.SetRange(offset, 0)
	}
	body, _, _, err := s.core.GetObject(ctx, s.opt.Bucket, s.prefix+key, opts)
	if err != nil {
		defer cancel()
		if er := minio.ToErrorResponse(err); er.Code == "InvalidRange" || er.StatusCode == 416 {
			oi, serr := s.Stat(ctx, key)
			if serr != nil {
				return nil, fmt.Errorf("get %s: %w", key, serr)
			}
			if offset == oi.Size {
				return objio.Empty(), nil
			}
			return nil, backends.Permanent(fmt.Errorf("get %s: offset %d outside object of %d bytes", key, offset, oi.Size))
		}
		return nil, s.classify("get", key, err)
	}
	return objio.ReadCloser{Reader: body, CloseFn: func() error {
		err := body.Close()
		cancel()
		return err
	}}, nil
}

// Stat implements backends.Store.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := backends.ValidKey(key); err != nil {
		return backends.ObjectInfo{}, backends.Permanent(fmt.Errorf("stat %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	oi, err := s.client.StatObject(ctx, s.opt.Bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return backends.ObjectInfo{}, s.classify("stat", key, err)
	}
	return backends.ObjectInfo{Key: key, Size: oi.Size, ModTime: oi.LastModified.UTC()}, nil
}

// List implements backends.Store with ListObjectsV2 (StartAfter seeks on
// the server; minio-go pages). Timeout bounds the whole listing.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := backends.ValidPrefix(prefix); err != nil {
		return backends.Permanent(fmt.Errorf("list %s: %w", prefix, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel() // also stops minio-go's listing goroutine when fn stops early
	lo := minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}
	if after != "" {
		lo.StartAfter = s.prefix + after
	}
	for o := range s.client.ListObjects(ctx, s.opt.Bucket, lo) {
		if o.Err != nil {
			return s.classify("list", prefix, o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.prefix)
		if key <= after || !strings.HasPrefix(key, prefix) || backends.ValidKey(key) != nil {
			continue
		}
		if err := fn(backends.ObjectInfo{Key: key, Size: o.Size, ModTime: o.LastModified.UTC()}); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %s: %w", prefix, s, err)
	}
	return nil
}

// Delete implements backends.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("delete %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	err := s.client.RemoveObject(ctx, s.opt.Bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err = s.classify("delete", key, err); backends.IsNotFound(err) {
		return nil
	}
	return err
}
