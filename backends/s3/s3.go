// Package s3 is the backends.Store for Amazon S3 and S3-compatible servers
// (MinIO, Ceph, versitygw, ...) built on aws-sdk-go-v2.
//
// Credentials and region come from the SDK's default chain
// (config.LoadDefaultConfig: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE, web identity, container and instance roles), never from a URL.
//
// Writes are create-only: every Put carries If-None-Match: * (on PutObject, or
// on CompleteMultipartUpload for large objects), so a server that honours
// conditional writes refuses to replace an object atomically, and a Put is
// one request. The first Put of a Store learns whether the server honours
// the header (objio.CondProbe: three requests under probe/, once); on a
// server that ignores it (or rejects it, then it is not sent) a HeadObject
// before each upload keeps the common case of re-shipping an object that is
// already there safe, and a warning names the store. Objects up to
// SinglePutMax (64 MiB) go in one PutObject with a CRC32C
// (x-amz-checksum-crc32c) the server verifies and names in its answer, or,
// on a server that does not, a Content-MD5 (objio.DigestMode); larger ones
// go through the multipart uploader with per-part CRC32C checksums, and a
// failed or cancelled multipart upload is aborted (with a fresh context
// when the caller's is gone) so no parts stay billed.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// Defaults for Options.
const (
	DefaultPartSize    = 16 << 20
	DefaultConcurrency = 4
	// DefaultSinglePutMax is the largest object sent in one PutObject by
	// default: above a sealed segment's size (16 MiB of entries and its
	// header, more when compression is off), so that shipping one costs
	// one request, not an upload in parts (four or more).
	DefaultSinglePutMax = 64 << 20
	// MinPartSize is S3's smallest multipart part.
	MinPartSize = manager.MinUploadPartSize
)

// Options configure a Store. Only Bucket is required.
type Options struct {
	Bucket string
	// Prefix is prepended (with a '/') to every key; "" for the whole bucket.
	Prefix string
	// Endpoint is the base URL of an S3-compatible server, for example
	// http://127.0.0.1:9000. Setting it forces path-style addressing and
	// turns the SDK's default request checksums (which many compatible
	// servers reject) down to WhenRequired.
	Endpoint string
	// Region defaults to the SDK chain (AWS_REGION, profile), and to
	// us-east-1 when Endpoint is set.
	Region string
	// PathStyle addresses the bucket in the path instead of the host name.
	PathStyle bool
	// SinglePutMax: objects up to this size go in one PutObject, streamed
	// from the body (default DefaultSinglePutMax; never below PartSize).
	SinglePutMax int64
	// PartSize: larger objects go in parts of this size (at least
	// MinPartSize; default DefaultPartSize). Each multipart upload buffers
	// up to (Concurrency+1)*PartSize bytes.
	PartSize int64
	// Concurrency is the number of parts uploaded at once (default
	// DefaultConcurrency).
	Concurrency int
	// SSE is server-side encryption: "", "AES256" or "aws:kms".
	SSE string
	// KMSKeyID names the KMS key for SSE "aws:kms" ("" = the bucket's or
	// account's default key).
	KMSKeyID string
	// StorageClass for new objects, e.g. STANDARD_IA ("" = bucket default).
	StorageClass string
	// Timeout bounds each Store call (a Get until its body is closed; List
	// per page). 0: only the caller's context.
	Timeout time.Duration
	// MaxAttempts is how many times the SDK tries one request on transient
	// errors (5xx, throttling, connection errors). 0: the SDK default (3).
	MaxAttempts int
	// MaxBackoff caps the SDK's wait between attempts. 0: the SDK default.
	MaxBackoff time.Duration
	// Credentials overrides the default credential chain (tests, embedding).
	Credentials aws.CredentialsProvider
}

// Store is an S3 bucket seen through a key prefix.
type Store struct {
	opt      Options
	prefix   string
	client   *s3.Client
	uploader *manager.Uploader
	creds    aws.CredentialsProvider
	// cond is what the server does with If-None-Match: *, learned on the
	// first Put.
	cond objio.CondProbe
	// digest is the digest single-request uploads carry: CRC32C until
	// the service fails to confirm one.
	digest objio.DigestMode
}

var (
	_ backends.Store   = (*Store)(nil)
	_ backends.Checker = (*Store)(nil)
)

// New builds a Store. It does not contact the server; call Check for that.
func New(ctx context.Context, opt Options) (*Store, error) {
	if opt.Bucket == "" {
		return nil, backends.Permanent(errors.New("s3: no bucket given"))
	}
	if err := backends.ValidPrefix(strings.Trim(opt.Prefix, "/")); err != nil {
		return nil, backends.Permanent(fmt.Errorf("s3: %w", err))
	}
	if opt.PartSize == 0 {
		opt.PartSize = DefaultPartSize
	}
	if opt.PartSize < MinPartSize {
		return nil, backends.Permanent(fmt.Errorf("s3: part size %d is below S3's minimum of %d bytes (5 MiB)", opt.PartSize, MinPartSize))
	}
	if opt.SinglePutMax == 0 {
		opt.SinglePutMax = DefaultSinglePutMax
	}
	opt.SinglePutMax = max(opt.SinglePutMax, opt.PartSize)
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	switch opt.SSE {
	case "", string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms):
	default:
		return nil, backends.Permanent(fmt.Errorf("s3: unknown server-side encryption %q: use AES256 or aws:kms", opt.SSE))
	}
	if opt.KMSKeyID != "" && opt.SSE != string(types.ServerSideEncryptionAwsKms) {
		return nil, backends.Permanent(errors.New("s3: a KMS key id needs sse=aws:kms"))
	}
	if opt.Endpoint != "" {
		u, err := url.Parse(opt.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, backends.Permanent(fmt.Errorf("s3: endpoint must look like http(s)://host[:port], got %q", redactEndpoint(opt.Endpoint)))
		}
		if u.User != nil {
			return nil, backends.Permanent(errors.New("s3: credentials in the endpoint URL are refused: put them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"))
		}
		opt.PathStyle = true
		if opt.Region == "" {
			opt.Region = "us-east-1"
		}
	}

	var lo []func(*config.LoadOptions) error
	if opt.Region != "" {
		lo = append(lo, config.WithRegion(opt.Region))
	}
	if opt.Credentials != nil {
		lo = append(lo, config.WithCredentialsProvider(opt.Credentials))
	}
	if opt.Endpoint != "" {
		lo = append(lo,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	if opt.MaxAttempts > 0 || opt.MaxBackoff > 0 {
		lo = append(lo, config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				if opt.MaxAttempts > 0 {
					so.MaxAttempts = opt.MaxAttempts
				}
				if opt.MaxBackoff > 0 {
					so.MaxBackoff = opt.MaxBackoff
					so.Backoff = retry.NewExponentialJitterBackoff(opt.MaxBackoff)
				}
			})
		}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, backends.Permanent(fmt.Errorf("s3: load AWS configuration: %w", err))
	}
	if cfg.Region == "" {
		return nil, backends.Permanent(fmt.Errorf("s3://%s: no AWS region: add region=... to the store URL or set AWS_REGION", opt.Bucket))
	}
	opt.Region = cfg.Region
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opt.Endpoint != "" {
			o.BaseEndpoint = aws.String(opt.Endpoint)
		}
		o.UsePathStyle = opt.PathStyle
	})
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = opt.PartSize
		u.Concurrency = opt.Concurrency
		u.LeavePartsOnError = false // abort the upload on failure
		if opt.Endpoint != "" {
			u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
	})
	return &Store{
		opt:      opt,
		prefix:   objio.NormPrefix(opt.Prefix),
		client:   client,
		uploader: uploader,
		creds:    cfg.Credentials,
	}, nil
}

// Client returns the underlying SDK client (for tests and tools).
func (s *Store) Client() *s3.Client { return s.client }

// Bucket returns the store's bucket.
func (s *Store) Bucket() string { return s.opt.Bucket }

// Prefix returns the store's key prefix, "" or ending in '/'.
func (s *Store) Prefix() string { return s.prefix }

// String implements backends.Store: s3://bucket/prefix, never credentials.
func (s *Store) String() string {
	if s.prefix == "" {
		return "s3://" + s.opt.Bucket
	}
	return "s3://" + s.opt.Bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

// Close implements backends.Store.
func (s *Store) Close() error { return nil }

func (s *Store) endpointName() string {
	if s.opt.Endpoint != "" {
		return redactEndpoint(s.opt.Endpoint)
	}
	return "AWS region " + s.opt.Region
}

// redactEndpoint drops anything but scheme://host[:port]/path.
func redactEndpoint(e string) string {
	u, err := url.Parse(e)
	if err != nil {
		return "(unparsable endpoint)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
