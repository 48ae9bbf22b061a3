package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// abortTimeout bounds the clean-up of a failed multipart upload, which runs
// on a fresh context because the caller's may be the reason it failed.
const abortTimeout = 30 * time.Second

// Put implements backends.Store. See the package doc for how it keeps the
// create-only and nothing-partial promises.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	if size < 0 {
		return backends.Permanent(fmt.Errorf("put %s: negative size %d", key, size))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	full := s.prefix + key
	mode := s.cond.Mode(ctx, s.String(), s.condOps())
	if mode != objio.CondHonoured {
		_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opt.Bucket, Key: &full})
		if err == nil {
			return fmt.Errorf("put %s: %w", key, backends.ErrExists)
		}
		if err := s.classify("put", key, err); !backends.IsNotFound(err) {
			return err
		}
	}
	cond := mode != objio.CondRejected
	if size <= s.opt.SinglePutMax {
		return s.putSingle(ctx, key, full, r, size, cond, false)
	}
	return s.putMultipart(ctx, key, full, r, size, cond)
}

// condOps are the raw writes the conditional-write probe makes.
func (s *Store) condOps() objio.CondOps {
	return objio.CondOps{
		Put: func(ctx context.Context, key string, body []byte, cond bool) error {
			return s.putSingle(ctx, key, s.prefix+key, bytes.NewReader(body), int64(len(body)), cond, true)
		},
		Delete: s.Delete,
		Rejected: func(err error) bool {
			code, status := apiCode(err), httpStatus(err)
			return code == "NotImplemented" || status == 501 || status == 400
		},
	}
}

func (s *Store) putInput(full string, body io.Reader, cond bool) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket: &s.opt.Bucket,
		Key:    &full,
		Body:   body,
	}
	if cond {
		in.IfNoneMatch = aws.String("*")
	}
	if s.opt.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.opt.SSE)
	}
	if s.opt.KMSKeyID != "" {
		in.SSEKMSKeyId = &s.opt.KMSKeyID
	}
	if s.opt.StorageClass != "" {
		in.StorageClass = types.StorageClass(s.opt.StorageClass)
	}
	return in
}

// putSingle sends the object in one PutObject carrying the digest the
// service checks (objio.DigestMode): a CRC32C, confirmed by the answer, or
// a Content-MD5. A probe's put (probe) teaches the digest mode and fails
// only as any request does.
func (s *Store) putSingle(ctx context.Context, key, full string, r io.ReadSeeker, size int64, cond, probe bool) error {
	useMD5 := s.digest.MD5()
	sum, err := objio.Checked(ctx, r, size, useMD5)
	if err != nil {
		if errors.Is(err, objio.ErrShortBody) {
			err = backends.Permanent(err)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	in := s.putInput(full, objio.NewSizedReader(r, size), cond)
	in.ContentLength = aws.Int64(size)
	if useMD5 {
		in.ContentMD5 = aws.String(sum)
	} else {
		in.ChecksumCRC32C = aws.String(sum)
	}
	// The body's digest, which the service checks, protects it; the
	// signature need not hash it again (the SDK would read the whole body
	// once more before sending it, through any throttle).
	out, err := s.client.PutObject(ctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		return s.classify("put", key, err)
	}
	if useMD5 {
		return nil
	}
	return s.digest.Confirm(s.String(), key, sum, aws.ToString(out.ChecksumCRC32C), probe)
}

func (s *Store) putMultipart(ctx context.Context, key, full string, r io.ReadSeeker, size int64, cond bool) error {
	if err := objio.CheckLen(r, size); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	in := s.putInput(full, objio.NewSizedReader(r, size), cond)
	in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	_, err := s.uploader.Upload(ctx, in)
	if err == nil {
		return nil
	}
	var mf manager.MultiUploadFailure
	if errors.As(err, &mf) && mf.UploadID() != "" {
		// The uploader aborts too, but with ctx, which may be cancelled.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		_, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &s.opt.Bucket, Key: &full, UploadId: aws.String(mf.UploadID()),
		})
		cancel()
		if aerr != nil && apiCode(aerr) != "NoSuchUpload" && httpStatus(aerr) != 404 {
			err = fmt.Errorf("%w (and aborting multipart upload %s failed: %v)", err, mf.UploadID(), aerr)
		}
	}
	if errors.Is(err, objio.ErrShortBody) {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	return s.classify("put", key, err)
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
	full := s.prefix + key
	in := &s3.GetObjectInput{Bucket: &s.opt.Bucket, Key: &full}
	if offset > 0 || length > 0 {
		rng := "bytes=" + strconv.FormatInt(offset, 10) + "-"
		if length > 0 {
			rng += strconv.FormatInt(offset+length-1, 10)
		}
		in.Range = &rng
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		defer cancel()
		if apiCode(err) == "InvalidRange" || httpStatus(err) == 416 {
			// Reading from the very end of an object is an empty read, not
			// an error; S3 answers 416 for it.
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
	return objio.ReadCloser{Reader: out.Body, CloseFn: func() error {
		err := out.Body.Close()
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
	full := s.prefix + key
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.opt.Bucket, Key: &full})
	if err != nil {
		return backends.ObjectInfo{}, s.classify("stat", key, err)
	}
	return backends.ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified).UTC()}, nil
}

// List implements backends.Store with ListObjectsV2: Prefix and StartAfter
// seek on the server, continuation tokens page.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := backends.ValidPrefix(prefix); err != nil {
		return backends.Permanent(fmt.Errorf("list %s: %w", prefix, err))
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.opt.Bucket, Prefix: aws.String(s.prefix + prefix)}
	if after != "" {
		in.StartAfter = aws.String(s.prefix + after)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		pctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
		page, err := p.NextPage(pctx)
		cancel()
		if err != nil {
			return s.classify("list", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			// Skip what walship never writes (foreign objects, "dir/"
			// markers), as the file store does.
			if key <= after || !strings.HasPrefix(key, prefix) || backends.ValidKey(key) != nil {
				continue
			}
			if err := fn(backends.ObjectInfo{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified).UTC()}); err != nil {
				return err
			}
		}
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
	full := s.prefix + key
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.opt.Bucket, Key: &full})
	if err = s.classify("delete", key, err); backends.IsNotFound(err) {
		return nil
	}
	return err
}
