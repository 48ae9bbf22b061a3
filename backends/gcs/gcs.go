// Package gcs is the backends.Store for Google Cloud Storage (and the
// fake-gcs-server emulator) built on cloud.google.com/go/storage over HTTP:
// the JSON API for uploads, listings and metadata, the client's default XML
// path for reads (GET /BUCKET/OBJECT on the endpoint's host, which
// fake-gcs-server serves when started with -public-host HOST:PORT).
//
// Credentials come from Application Default Credentials: the key file
// GOOGLE_APPLICATION_CREDENTIALS names, the file `gcloud auth
// application-default login` writes, or the service account of the machine
// the agent runs on; never from a store URL. With Options.Endpoint (an
// emulator) the client sends no credentials at all; the library's own
// STORAGE_EMULATOR_HOST convention works too.
//
// Puts are create-only and one atomic step in the service: every upload
// carries ifGenerationMatch=0 (storage.Conditions{DoesNotExist: true}), so
// an existing object is never replaced and the service's 412 becomes
// backends.ErrExists; nothing is asked before. Each upload also carries the
// body's CRC32C, computed in a first pass over the body (which also refuses
// a body of the wrong length before any byte goes out), and the service
// refuses an object whose bytes do not match it. Objects up to ChunkSize go
// in one request (uploadType=multipart, buffered by the client so it can
// retry); up to SinglePutMax (64 MiB) in one request streamed from the body
// (not buffered, so not retried by the client: walship retries the whole
// Put); larger ones in a resumable upload of ChunkSize chunks, which
// creates no object until its last chunk is accepted. A failed or
// cancelled Put therefore leaves no object; an abandoned resumable session
// holds no visible data and the service forgets it (after a week).
//
// Versions (backends.Swapper) are object generations: PutIf sends
// ifGenerationMatch=GENERATION, or 0 to create.
package gcs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// Defaults and limits for Options.
const (
	// DefaultChunkSize is the client's own default chunk.
	DefaultChunkSize = 16 << 20
	// DefaultSinglePutMax is the largest object sent in one request by
	// default: above a sealed segment's size (16 MiB of entries and its
	// header, more when compression is off), so that shipping one costs
	// one request, not a resumable session (three or more).
	DefaultSinglePutMax = 64 << 20
	// MinChunkSize is the granularity of resumable chunks: ChunkSize must
	// be a multiple of it.
	MinChunkSize = googleapi.MinUploadChunkSize // 256 KiB
	// DefaultMaxAttempts bounds the client's attempts per request (it
	// would otherwise retry until the context ends).
	DefaultMaxAttempts = 3
	checkAttempts      = 2
)

// Options configure a Store. Bucket is required.
type Options struct {
	Bucket string
	Prefix string
	// Endpoint is the base URL of an emulator (http://127.0.0.1:4443): the
	// JSON API is then Endpoint/storage/v1/ and requests carry no
	// credentials. Empty: Google Cloud Storage with Application Default
	// Credentials.
	Endpoint string
	// ChunkSize: objects up to this size go in one request the client
	// buffers and may retry; objects over SinglePutMax in a resumable
	// upload of chunks of this size (a multiple of MinChunkSize; default
	// DefaultChunkSize). Each upload buffers up to this many bytes.
	ChunkSize int64
	// SinglePutMax: objects up to this size go in one request, those over
	// ChunkSize streamed from the body (default DefaultSinglePutMax; never
	// below ChunkSize).
	SinglePutMax int64
	// StorageClass of new objects ("" = the bucket's default), e.g.
	// STANDARD, NEARLINE, COLDLINE, ARCHIVE.
	StorageClass string
	// Timeout bounds each Store call (a Get until its body is closed, a
	// List each page). 0: only the caller's context.
	Timeout time.Duration
	// MaxAttempts bounds the client's attempts per request (0:
	// DefaultMaxAttempts). walship retries whole uploads itself, so the
	// client's own retries stay few. RetryDelay is the initial back-off
	// (0: the client's default of 1s).
	MaxAttempts int
	RetryDelay  time.Duration
}

// Store is a Cloud Storage bucket seen through a name prefix.
type Store struct {
	opt    Options
	prefix string
	client *storage.Client
	bucket *storage.BucketHandle
	check  *storage.BucketHandle // few attempts: start-up should fail fast
	where  string                // the service, for messages
}

var (
	_ backends.Store   = (*Store)(nil)
	_ backends.Checker = (*Store)(nil)
)

// credHint says where credentials come from.
const credHint = "check GOOGLE_APPLICATION_CREDENTIALS (or `gcloud auth application-default login`) and that the account may use the bucket"

// New builds a Store. It looks up Application Default Credentials (unless
// Options.Endpoint names an emulator) but does not contact the service; call
// Check for that.
func New(ctx context.Context, opt Options) (*Store, error) {
	if opt.Bucket == "" {
		return nil, backends.Permanent(errors.New("gs: no bucket given"))
	}
	if strings.ContainsAny(opt.Bucket, "/?#@ ") {
		return nil, backends.Permanent(fmt.Errorf("gs: bad bucket name %q", opt.Bucket))
	}
	if err := backends.ValidPrefix(strings.Trim(opt.Prefix, "/")); err != nil {
		return nil, backends.Permanent(fmt.Errorf("gs: %w", err))
	}
	if opt.ChunkSize == 0 {
		opt.ChunkSize = DefaultChunkSize
	}
	if opt.ChunkSize < MinChunkSize || opt.ChunkSize%MinChunkSize != 0 || opt.ChunkSize > 1<<30 {
		return nil, backends.Permanent(fmt.Errorf("gs: chunk size %d must be a multiple of 256 KiB, up to 1 GiB", opt.ChunkSize))
	}
	if opt.SinglePutMax == 0 {
		opt.SinglePutMax = DefaultSinglePutMax
	}
	opt.SinglePutMax = max(opt.SinglePutMax, opt.ChunkSize)
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	name := "gs://" + opt.Bucket
	copts := []option.ClientOption{storage.WithDisabledClientMetrics()}
	where := "Google Cloud Storage"
	if opt.Endpoint != "" {
		u, err := url.Parse(opt.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, backends.Permanent(fmt.Errorf("%s: endpoint must look like http://HOST:PORT (an emulator), got %q", name, redact(opt.Endpoint)))
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, backends.Permanent(fmt.Errorf("%s: credentials in the endpoint are refused: an endpoint is an emulator's base URL, and credentials come from GOOGLE_APPLICATION_CREDENTIALS", name))
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		where = u.Scheme + "://" + u.Host + u.Path
		if !strings.HasSuffix(u.Path, "/storage/v1") {
			u.Path += "/storage/v1"
		}
		copts = append(copts, option.WithEndpoint(u.String()+"/"), option.WithoutAuthentication())
	} else if h := os.Getenv("STORAGE_EMULATOR_HOST"); h != "" {
		where = "the emulator at " + redact(h) + " (STORAGE_EMULATOR_HOST)"
	}
	client, err := storage.NewClient(ctx, copts...)
	if err != nil {
		return nil, backends.Permanent(fmt.Errorf("%s: no usable credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, "+
			"run `gcloud auth application-default login`, or run on a machine with a service account (%s)", name, oneLine(err)))
	}
	backoff := gax.Backoff{}
	if opt.RetryDelay > 0 {
		backoff = gax.Backoff{Initial: opt.RetryDelay, Max: 8 * opt.RetryDelay, Multiplier: 2}
	}
	client.SetRetry(storage.WithMaxAttempts(opt.MaxAttempts), storage.WithBackoff(backoff))
	// Each Bucket call copies the client's retry settings; Retryer then
	// changes its handle's own copy.
	return &Store{
		opt:    opt,
		prefix: objio.NormPrefix(opt.Prefix),
		client: client,
		bucket: client.Bucket(opt.Bucket),
		check:  client.Bucket(opt.Bucket).Retryer(storage.WithMaxAttempts(min(checkAttempts, opt.MaxAttempts))),
		where:  where,
	}, nil
}

// Client returns the underlying client (tests and tools).
func (s *Store) Client() *storage.Client { return s.client }

// Bucket returns the store's bucket name.
func (s *Store) Bucket() string { return s.opt.Bucket }

// Prefix returns the name prefix, "" or ending in '/'.
func (s *Store) Prefix() string { return s.prefix }

// String implements backends.Store: gs://bucket/prefix.
func (s *Store) String() string {
	if s.prefix == "" {
		return "gs://" + s.opt.Bucket
	}
	return "gs://" + s.opt.Bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

// Close implements backends.Store.
func (s *Store) Close() error { return s.client.Close() }

// redact keeps scheme://host/path of a URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// oneLine renders err on one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// status returns the HTTP status, the first reason and the message of a
// service error (0 when err is none).
func status(err error) (code int, reason, msg string) {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return 0, "", ""
	}
	msg = ge.Message
	for _, it := range ge.Errors {
		if reason == "" {
			reason = it.Reason
		}
		if msg == "" {
			msg = it.Message
		}
	}
	if msg == "" {
		msg = ge.Body
	}
	return ge.Code, reason, strings.Join(strings.Fields(msg), " ")
}

// short describes err in a few words: the service's status and message, or
// the network error, without request URLs.
func short(err error) string {
	if code, reason, msg := status(err); code != 0 {
		s := fmt.Sprintf("HTTP %d", code)
		if reason != "" {
			s += " " + reason
		}
		if msg != "" {
			s += ": " + msg
		}
		return s
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Response != nil {
		return fmt.Sprintf("the token service answered HTTP %d", ae.Response.StatusCode)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	return oneLine(err)
}

// authRefused reports whether err is the token service refusing the
// credentials (a revoked or malformed key), which retrying cannot fix.
func authRefused(err error) bool {
	var ae *auth.Error
	return errors.As(err, &ae) && ae.Response != nil && !ae.Temporary() && ae.Response.StatusCode < 500
}

// bucketMissing reports whether a 404 names the bucket, not the object.
func bucketMissing(err error) bool {
	if errors.Is(err, storage.ErrBucketNotExist) {
		return true
	}
	code, _, msg := status(err)
	return code == 404 && strings.Contains(strings.ToLower(msg), "bucket does not exist")
}

// checksumMismatch reports whether a 400 says the bytes that arrived do not
// match the declared checksum: damage on the way, which a retry may fix.
func checksumMismatch(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "crc32c") || strings.Contains(m, "md5")
}

func (s *Store) missingBucket(what string, err error) error {
	return backends.Permanent(objio.Reword(fmt.Sprintf("%s%s: bucket %q does not exist at %s: create it (e.g. `gcloud storage buckets create gs://%s`) or fix the store URL",
		what, s, s.opt.Bucket, s.where, s.opt.Bucket), err))
}

// classify wraps a client error with the operation and key, on one line,
// and maps it onto the backends sentinels. Uploads (put, put-if) and
// listings answer 404 only for a missing bucket.
func (s *Store) classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := op + " " + key
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return objio.Reword(fmt.Sprintf("%s: %s: %s", what, s, short(err)), err)
	}
	code, reason, msg := status(err)
	upload := op == "put" || op == "put-if" || op == "list"
	switch {
	case bucketMissing(err) || upload && code == 404:
		return s.missingBucket(what+": ", err)
	case errors.Is(err, storage.ErrObjectNotExist) || code == 404:
		return fmt.Errorf("%s: %w", what, backends.ErrNotFound)
	case code == 412:
		return fmt.Errorf("%s: %w", what, backends.ErrExists)
	case code == 401 || code == 403 || authRefused(err):
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: %s: access denied (%s): %s", what, s, codeOr(reason, code, err), credHint), err))
	case code == 400 && checksumMismatch(msg):
		return objio.Reword(fmt.Sprintf("%s: %s: the service refused the bytes it received (%s)", what, s, short(err)), err)
	case code == 400 || code == 416 || code == 501:
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: %s: %s", what, s, short(err)), err))
	}
	return objio.Reword(fmt.Sprintf("%s: %s: %s", what, s, short(err)), err)
}

func codeOr(reason string, code int, err error) string {
	switch {
	case reason != "":
		return reason
	case code != 0:
		return fmt.Sprintf("HTTP %d", code)
	}
	return short(err)
}

// Check implements backends.Checker by listing one object under the
// prefix: it needs only the permission the store needs anyway
// (storage.objects.list), not storage.buckets.get.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	q := &storage.Query{Prefix: s.prefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return err
	}
	it := s.check.Objects(ctx, q)
	it.PageInfo().MaxSize = 1
	_, err := it.Next()
	if err == nil || errors.Is(err, iterator.Done) {
		return nil
	}
	code, reason, _ := status(err)
	switch {
	case bucketMissing(err) || code == 404:
		return s.missingBucket("", err)
	case code == 401 || code == 403 || authRefused(err):
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: access denied (%s) at %s: %s", s, codeOr(reason, code, err), s.where, credHint), err))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return objio.Reword(fmt.Sprintf("%s: no answer from %s in time: is the service up and the endpoint right? (%s)", s, s.where, short(err)), err)
	case code == 0:
		return objio.Reword(fmt.Sprintf("%s: cannot reach %s: is the service up and the endpoint right? (%s)", s, s.where, short(err)), err)
	}
	return objio.Reword(fmt.Sprintf("%s: checking bucket %s at %s failed: %s", s, s.opt.Bucket, s.where, short(err)), err)
}
