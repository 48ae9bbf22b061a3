// Package minio is the backends.Store for MinIO (and other S3-compatible
// servers) built on minio-go.
//
// Credentials come from the environment: MINIO_ACCESS_KEY/MINIO_SECRET_KEY,
// else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN), or
// from Options in code; never from a URL. TLS is on unless DisableTLS.
//
// Puts are create-only: If-None-Match: * rides on the PutObject, or on
// both ends of a multipart upload (minio-go sends PutObjectOptions'
// headers with CreateMultipartUpload and CompleteMultipartUpload), and
// MinIO answers 412 when the key exists, so a Put is one request. The
// first Put of a Store learns whether the server honours the header
// (objio.CondProbe: three requests under probe/, once); on one that
// ignores it (or rejects it, then it is not sent) a StatObject before each
// upload keeps re-shipping an existing object safe, and a warning names
// the store. Objects up to SinglePutMax (64 MiB) go in one PUT with a
// CRC32C (x-amz-checksum-crc32c, computed before the upload) the server
// verifies and names in its answer, or, on a server that does not, a
// Content-MD5 (objio.DigestMode); larger ones in parts. A failed multipart
// upload is removed with RemoveIncompleteUpload on a fresh context,
// because minio-go's own abort uses the caller's context, which may be the
// reason it failed.
package minio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// Defaults for Options.
const (
	DefaultPartSize    = 16 << 20
	DefaultConcurrency = 4
	// DefaultSinglePutMax is the largest object sent in one PUT by
	// default: above a sealed segment's size (16 MiB of entries and its
	// header, more when compression is off), so that shipping one costs
	// one request, not an upload in parts (four or more).
	DefaultSinglePutMax = 64 << 20
	MinPartSize         = 5 << 20
	abortTimeout        = 30 * time.Second
	checkRetries        = 2
)

// Options configure a Store. Endpoint and Bucket are required.
type Options struct {
	// Endpoint is host:port, no scheme.
	Endpoint string
	Bucket   string
	Prefix   string
	// DisableTLS talks plain HTTP (local test servers).
	DisableTLS bool
	// Region defaults to us-east-1 (which also spares a location lookup).
	Region string
	// AccessKey and SecretKey override the environment.
	AccessKey, SecretKey, SessionToken string
	// SinglePutMax: objects up to this size go in one PUT, streamed from
	// the body (default DefaultSinglePutMax; never below PartSize).
	SinglePutMax int64
	// PartSize: larger objects go in parts of this size (at least
	// MinPartSize; default DefaultPartSize).
	PartSize int64
	// Concurrency is the number of parts uploaded at once.
	Concurrency int
	// SSE is "", "AES256" (SSE-S3) or "aws:kms" (SSE-KMS with KMSKeyID).
	SSE, KMSKeyID string
	// StorageClass for new objects ("" = server default).
	StorageClass string
	// Timeout bounds each Store call (a Get until its body is closed). 0:
	// only the caller's context.
	Timeout time.Duration
	// MaxRetries bounds minio-go's attempts per request. 0: DefaultMaxRetries.
	// walship retries whole uploads itself (agent retry.attempts), so the
	// client's own retries stay few: a dead server is noticed in seconds.
	MaxRetries int
}

// Store is a MinIO bucket seen through a key prefix.
type Store struct {
	opt    Options
	prefix string
	client *minio.Client
	core   minio.Core
	check  *minio.Client // few retries: start-up should fail fast
	sse    encrypt.ServerSide
	// cond is what the server does with If-None-Match: *, learned on the
	// first Put.
	cond objio.CondProbe
	// digest is the digest single-request uploads carry: CRC32C until
	// the server fails to confirm one.
	digest objio.DigestMode
}

var (
	_ backends.Store   = (*Store)(nil)
	_ backends.Checker = (*Store)(nil)
)

// New builds a Store. It does not contact the server; call Check for that.
func New(opt Options) (*Store, error) {
	if opt.Endpoint == "" || strings.Contains(opt.Endpoint, "/") {
		return nil, backends.Permanent(fmt.Errorf("minio: endpoint must be host:port, got %q", opt.Endpoint))
	}
	if strings.Contains(opt.Endpoint, "@") {
		return nil, backends.Permanent(errors.New("minio: credentials in the endpoint are refused: set MINIO_ACCESS_KEY and MINIO_SECRET_KEY"))
	}
	if opt.Bucket == "" {
		return nil, backends.Permanent(errors.New("minio: no bucket given"))
	}
	if err := backends.ValidPrefix(strings.Trim(opt.Prefix, "/")); err != nil {
		return nil, backends.Permanent(fmt.Errorf("minio: %w", err))
	}
	if opt.PartSize == 0 {
		opt.PartSize = DefaultPartSize
	}
	if opt.PartSize < MinPartSize {
		return nil, backends.Permanent(fmt.Errorf("minio: part size %d is below the S3 minimum of %d bytes (5 MiB)", opt.PartSize, MinPartSize))
	}
	if opt.SinglePutMax == 0 {
		opt.SinglePutMax = DefaultSinglePutMax
	}
	opt.SinglePutMax = max(opt.SinglePutMax, opt.PartSize)
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.Region == "" {
		opt.Region = "us-east-1"
	}
	var sse encrypt.ServerSide
	switch opt.SSE {
	case "":
		if opt.KMSKeyID != "" {
			return nil, backends.Permanent(errors.New("minio: a KMS key id needs sse=aws:kms"))
		}
	case "AES256":
		sse = encrypt.NewSSE()
	case "aws:kms":
		var err error
		if sse, err = encrypt.NewSSEKMS(opt.KMSKeyID, nil); err != nil {
			return nil, backends.Permanent(fmt.Errorf("minio: sse-kms: %w", err))
		}
	default:
		return nil, backends.Permanent(fmt.Errorf("minio: unknown server-side encryption %q: use AES256 or aws:kms", opt.SSE))
	}
	if opt.AccessKey == "" && opt.SecretKey == "" {
		opt.AccessKey, opt.SecretKey, opt.SessionToken = envCredentials()
	}
	if opt.AccessKey == "" || opt.SecretKey == "" {
		return nil, backends.Permanent(fmt.Errorf("minio://%s/%s: no credentials: set MINIO_ACCESS_KEY and MINIO_SECRET_KEY "+
			"(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", opt.Endpoint, opt.Bucket))
	}
	newClient := func(retries int) (*minio.Client, error) { // minio-go's own default is 10
		return minio.New(opt.Endpoint, &minio.Options{
			Creds:           credentials.NewStaticV4(opt.AccessKey, opt.SecretKey, opt.SessionToken),
			Secure:          !opt.DisableTLS,
			Region:          opt.Region,
			BucketLookup:    minio.BucketLookupPath,
			MaxRetries:      retries,
			TrailingHeaders: true,
		})
	}
	retries := opt.MaxRetries
	if retries <= 0 {
		retries = DefaultMaxRetries
	}
	client, err := newClient(retries)
	if err != nil {
		return nil, backends.Permanent(fmt.Errorf("minio://%s/%s: %w", opt.Endpoint, opt.Bucket, err))
	}
	check, err := newClient(checkRetries)
	if err != nil {
		return nil, backends.Permanent(fmt.Errorf("minio://%s/%s: %w", opt.Endpoint, opt.Bucket, err))
	}
	return &Store{
		opt: opt, prefix: objio.NormPrefix(opt.Prefix), client: client, core: minio.Core{Client: client},
		check: check, sse: sse,
	}, nil
}

// envCredentials reads MINIO_ACCESS_KEY/MINIO_SECRET_KEY, else the AWS pair.
func envCredentials() (access, secret, token string) {
	if a, s := os.Getenv("MINIO_ACCESS_KEY"), os.Getenv("MINIO_SECRET_KEY"); a != "" && s != "" {
		return a, s, ""
	}
	return os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
}

// Client returns the underlying minio-go client (tests and tools).
func (s *Store) Client() *minio.Client { return s.client }

// Bucket returns the store's bucket.
func (s *Store) Bucket() string { return s.opt.Bucket }

// Prefix returns the key prefix, "" or ending in '/'.
func (s *Store) Prefix() string { return s.prefix }

// String implements backends.Store: minio://host:port/bucket/prefix.
func (s *Store) String() string {
	str := "minio://" + s.opt.Endpoint + "/" + s.opt.Bucket
	if s.prefix != "" {
		str += "/" + strings.TrimSuffix(s.prefix, "/")
	}
	return str
}

// Close implements backends.Store.
func (s *Store) Close() error { return nil }

func (s *Store) scheme() string {
	if s.opt.DisableTLS {
		return "http"
	}
	return "https"
}

// classify wraps a minio-go error with the operation and key and maps it
// onto the backends sentinels.
func (s *Store) classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := op + " " + key
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: %w", what, s, err)
	}
	er := minio.ToErrorResponse(err)
	switch {
	case er.Code == "NoSuchBucket":
		return backends.Permanent(fmt.Errorf("%s: %s: bucket %q does not exist: create it (e.g. `mc mb ALIAS/%s`) or fix the store URL: %w",
			what, s, s.opt.Bucket, s.opt.Bucket, err))
	case er.Code == "NoSuchKey" || er.Code == "NotFound" || er.StatusCode == 404:
		return fmt.Errorf("%s: %w", what, backends.ErrNotFound)
	case er.Code == "PreconditionFailed" || er.StatusCode == 412:
		return fmt.Errorf("%s: %w", what, backends.ErrExists)
	case er.Code == "AccessDenied" || er.Code == "InvalidAccessKeyId" || er.Code == "SignatureDoesNotMatch" ||
		er.Code == "ExpiredToken" || er.Code == "InvalidToken" || er.StatusCode == 403:
		return backends.Permanent(fmt.Errorf("%s: %s: access denied (%s): check MINIO_ACCESS_KEY/MINIO_SECRET_KEY "+
			"(or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the bucket policy: %w", what, s, er.Code, err))
	case er.Code == "InvalidBucketName" || er.Code == "InvalidRange" || er.StatusCode == 416 || er.StatusCode == 501:
		return backends.Permanent(fmt.Errorf("%s: %s: %w", what, s, err))
	}
	return fmt.Errorf("%s: %s: %w", what, s, err)
}

// Check implements backends.Checker with BucketExists.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	ok, err := s.check.BucketExists(ctx, s.opt.Bucket)
	if err == nil && ok {
		return nil
	}
	where := s.scheme() + "://" + s.opt.Endpoint
	if err == nil {
		return backends.Permanent(fmt.Errorf("%s: bucket %q does not exist at %s: create bucket %s (e.g. `mc mb ALIAS/%s`) or fix the store URL",
			s, s.opt.Bucket, where, s.opt.Bucket, s.opt.Bucket))
	}
	er := minio.ToErrorResponse(err)
	switch {
	case er.StatusCode == 403 || er.Code == "AccessDenied" || er.Code == "InvalidAccessKeyId" || er.Code == "SignatureDoesNotMatch":
		return backends.Permanent(fmt.Errorf("%s: access denied (%s) at %s: check MINIO_ACCESS_KEY/MINIO_SECRET_KEY "+
			"(or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and that they may use bucket %s", s, er.Code, where, s.opt.Bucket))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: no answer from %s in time: is the server up, the endpoint right and tls= set to what it speaks? (%v)", s, where, rootCause(err))
	}
	var ne net.Error
	if errors.As(err, &ne) || er.StatusCode == 0 {
		hint := "is the server up and the endpoint right?"
		if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			hint = "the server speaks plain HTTP: add ?tls=false to the store URL"
		}
		return fmt.Errorf("%s: cannot reach %s: %s (%v)", s, where, hint, rootCause(err))
	}
	return fmt.Errorf("%s: checking bucket %s at %s failed (%s): %v", s, s.opt.Bucket, where, er.Code, err)
}

func rootCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return err
}

// DefaultMaxRetries is the client's attempts per request unless
// Options.MaxRetries says otherwise.
const DefaultMaxRetries = 3
