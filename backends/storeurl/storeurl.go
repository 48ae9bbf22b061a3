// Package storeurl turns a store URL into a backends.Store:
//
//	file:///ABS/PATH  or a plain path (relative paths are made absolute)
//	mem://            in-memory (tests only)
//	s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:9000&region=us-east-1
//	                  [&part_size=16MiB&concurrency=4&sse=AES256|aws:kms&kms_key_id=K&storage_class=C]
//	minio://HOST:PORT/BUCKET/PREFIX[?tls=false&region=R&part_size=..&concurrency=..&sse=..&kms_key_id=..&storage_class=..]
//	azblob://CONTAINER/PREFIX[?endpoint=URL&tier=Hot|Cool|Cold&block_size=8MiB&concurrency=4]
//	gs://BUCKET/PREFIX[?endpoint=http://127.0.0.1:4443&chunk_size=16MiB&storage_class=C]
//
// Credentials never come from a URL (one carrying user:password@ is
// refused); each store reads its provider's usual environment: the AWS chain
// for s3, MINIO_ACCESS_KEY/MINIO_SECRET_KEY (else the AWS pair) for minio,
// AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN for azblob, Application Default
// Credentials (GOOGLE_APPLICATION_CREDENTIALS, ...) for gs, whose endpoint=
// option names an emulator that takes none. Redact makes any URL safe to
// log.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/azure"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/gcs"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/s3"
)

// ErrInvalidURL marks every Parse error: a usage error (exit status 2).
var ErrInvalidURL = errors.New("invalid store URL")

// Schemes lists the URL schemes Parse knows.
var Schemes = []string{"file", "mem", "s3", "minio", "azblob", "gs"}

// CheckTimeout bounds the reachability check Open makes.
const CheckTimeout = 10 * time.Second

// Spec is a parsed store URL: the scheme and the options of its store.
// Exactly the field of Scheme is set.
type Spec struct {
	Scheme string // one of Schemes
	// Redacted is the URL as safe to log.
	Redacted string
	// File is the file store's absolute directory.
	File  string
	S3    *s3.Options
	MinIO *minio.Options
	Azure *azure.Options
	GCS   *gcs.Options
	// MustExist: a file store's directory must exist (file.Options).
	// Set by callers that read or change a backup, never by the URL.
	MustExist bool
}

// Open parses rawURL, builds its store and checks it (bucket or container
// there, credentials accepted, endpoint answering) within CheckTimeout, so a
// bad store fails here with one clear line. Parse errors wrap ErrInvalidURL.
func Open(ctx context.Context, rawURL string) (backends.Store, error) {
	spec, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return OpenSpec(ctx, spec)
}

// OpenSpec builds and checks the store a Spec describes (see Open).
func OpenSpec(ctx context.Context, spec Spec) (backends.Store, error) {
	st, err := Build(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := Check(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// Check asks st whether it can work (bucket or container there,
// credentials accepted, endpoint answering) within CheckTimeout. A store
// without a check passes.
func Check(ctx context.Context, st backends.Store) error {
	c, ok := st.(backends.Checker)
	if !ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	return c.Check(cctx)
}

// Build makes the store a Spec describes without checking it: for a
// caller that decides itself what an unreachable store means.
func Build(ctx context.Context, spec Spec) (backends.Store, error) {
	var (
		st  backends.Store
		err error
	)
	switch spec.Scheme {
	case "file":
		st, err = file.OpenWith(spec.File, file.Options{MustExist: spec.MustExist})
	case "mem":
		st = mem.New()
	case "s3":
		st, err = s3.New(ctx, *spec.S3)
	case "minio":
		st, err = minio.New(*spec.MinIO)
	case "azblob":
		st, err = azure.New(*spec.Azure)
	case "gs":
		st, err = gcs.New(ctx, *spec.GCS)
	default:
		return nil, fmt.Errorf("%w: unknown scheme %q (known: %s)", ErrInvalidURL, spec.Scheme, strings.Join(Schemes, ", "))
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

func invalid(raw, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrInvalidURL, Redact(raw), fmt.Sprintf(format, args...))
}

// Parse checks a store URL and returns what it names, without touching the
// network or the environment.
func Parse(rawURL string) (Spec, error) {
	raw := strings.TrimSpace(rawURL)
	if raw == "" {
		return Spec{}, fmt.Errorf("%w: empty store URL (want a path or one of %s://...)", ErrInvalidURL, strings.Join(Schemes, "://, "))
	}
	if !strings.Contains(raw, "://") {
		if i := strings.Index(raw, ":"); i > 0 && knownScheme(strings.ToLower(raw[:i])) {
			return Spec{}, invalid(raw, "did you mean %s://...? (a scheme needs '://')", strings.ToLower(raw[:i]))
		}
		abs, err := filepath.Abs(raw)
		if err != nil {
			return Spec{}, invalid(raw, "%v", err)
		}
		return Spec{Scheme: "file", File: abs, Redacted: "file://" + filepath.ToSlash(abs)}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, credentials and all
		}
		return Spec{}, invalid(raw, "malformed URL (%v)", err)
	}
	if u.User != nil {
		return Spec{}, invalid(raw, "credentials in a store URL are refused: put credentials in the environment "+
			"(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, MINIO_ACCESS_KEY/MINIO_SECRET_KEY, AZURE_STORAGE_KEY/AZURE_STORAGE_SAS_TOKEN, "+
			"GOOGLE_APPLICATION_CREDENTIALS)")
	}
	if u.Fragment != "" {
		return Spec{}, invalid(raw, "a store URL has no #fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Spec{}, invalid(raw, "malformed query (%v)", err)
	}
	spec := Spec{Scheme: strings.ToLower(u.Scheme), Redacted: Redact(raw)}
	switch spec.Scheme {
	case "file":
		err = parseFile(u, q, &spec)
	case "mem":
		if (u.Host != "" || (u.Path != "" && u.Path != "/")) || len(q) > 0 {
			err = errors.New("mem:// takes no bucket, path or options")
		}
	case "s3":
		err = parseS3(u, q, &spec)
	case "minio":
		err = parseMinIO(u, q, &spec)
	case "azblob":
		err = parseAzure(u, q, &spec)
	case "gs":
		err = parseGCS(u, q, &spec)
	default:
		err = fmt.Errorf("unknown scheme %q (known: %s)", u.Scheme, strings.Join(Schemes, ", "))
	}
	if err != nil {
		return Spec{}, invalid(raw, "%v", err)
	}
	return spec, nil
}

func knownScheme(s string) bool {
	for _, k := range Schemes {
		if s == k {
			return true
		}
	}
	return false
}

func parseFile(u *url.URL, q url.Values, spec *Spec) error {
	if u.Host != "" && u.Host != "localhost" {
		return fmt.Errorf("file URLs need an absolute path: file:///ABS/PATH (three slashes), or give a plain path")
	}
	if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
		return errors.New("file URL without a path: use file:///ABS/PATH")
	}
	if len(q) > 0 {
		return errors.New("file URLs take no options")
	}
	spec.File = filepath.Clean(filepath.FromSlash(u.Path))
	return nil
}

// options reads the query keys a scheme accepts, refusing unknown or
// repeated ones so a typo is not silently ignored.
type options struct {
	q url.Values
}

func (o options) check(allowed ...string) error {
	for k, v := range o.q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return fmt.Errorf("unknown option %q (known: %s)", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return fmt.Errorf("option %q given %d times", k, len(v))
		}
	}
	return nil
}

func (o options) str(k string) string { return o.q.Get(k) }

func (o options) size(k string) (int64, error) {
	v := o.q.Get(k)
	if v == "" {
		return 0, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("option %s: %w", k, err)
	}
	return n, nil
}

func (o options) int(k string) (int, error) {
	v := o.q.Get(k)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1024 {
		return 0, fmt.Errorf("option %s=%q: want a whole number 1..1024", k, v)
	}
	return n, nil
}

// prefixOf turns a URL path into a store prefix.
func prefixOf(p string) (string, error) {
	p = strings.Trim(p, "/")
	if err := backends.ValidPrefix(p); err != nil {
		return "", fmt.Errorf("prefix %q: keys allow only A-Z a-z 0-9 . _ - and '/' between non-empty parts", p)
	}
	return p, nil
}

func parseS3(u *url.URL, q url.Values, spec *Spec) error {
	o := options{q}
	if err := o.check("endpoint", "region", "part_size", "concurrency", "sse", "kms_key_id", "storage_class"); err != nil {
		return err
	}
	if err := ValidBucket(u.Host); err != nil {
		return err
	}
	prefix, err := prefixOf(u.Path)
	if err != nil {
		return err
	}
	opt := s3.Options{Bucket: u.Host, Prefix: prefix, Region: o.str("region"), SSE: o.str("sse"),
		KMSKeyID: o.str("kms_key_id"), StorageClass: o.str("storage_class")}
	if e := o.str("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" || eu.RawQuery != "" {
			return fmt.Errorf("endpoint must look like http(s)://host[:port]")
		}
		if eu.User != nil {
			return errors.New("credentials in the endpoint are refused: put them in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
		}
		opt.Endpoint = e
	}
	if err := common(o, &opt.PartSize, &opt.Concurrency, opt.SSE, opt.KMSKeyID, s3.MinPartSize); err != nil {
		return err
	}
	spec.S3 = &opt
	return nil
}

func common(o options, partSize *int64, conc *int, sse, kms string, minPart int64) error {
	var err error
	if *partSize, err = o.size("part_size"); err != nil {
		return err
	}
	if *partSize != 0 && *partSize < minPart {
		return fmt.Errorf("part_size %d is below the S3 minimum of 5MiB", *partSize)
	}
	if *conc, err = o.int("concurrency"); err != nil {
		return err
	}
	switch sse {
	case "", "AES256", "aws:kms":
	default:
		return fmt.Errorf("sse=%q: use AES256 or aws:kms", sse)
	}
	if kms != "" && sse != "aws:kms" {
		return errors.New("kms_key_id needs sse=aws:kms")
	}
	return nil
}

func parseMinIO(u *url.URL, q url.Values, spec *Spec) error {
	o := options{q}
	if err := o.check("tls", "region", "part_size", "concurrency", "sse", "kms_key_id", "storage_class"); err != nil {
		return err
	}
	if u.Host == "" {
		return errors.New("no server: use minio://HOST:PORT/BUCKET/PREFIX")
	}
	if h, p, err := net.SplitHostPort(u.Host); err == nil {
		if h == "" {
			return errors.New("no host before the port: use minio://HOST:PORT/BUCKET/PREFIX")
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("bad port %q", p)
		}
	}
	path := strings.TrimPrefix(u.Path, "/")
	bucket, rest, _ := strings.Cut(path, "/")
	if bucket == "" {
		return errors.New("no bucket: use minio://HOST:PORT/BUCKET/PREFIX")
	}
	if err := ValidBucket(bucket); err != nil {
		return err
	}
	prefix, err := prefixOf(rest)
	if err != nil {
		return err
	}
	opt := minio.Options{Endpoint: u.Host, Bucket: bucket, Prefix: prefix, Region: o.str("region"),
		SSE: o.str("sse"), KMSKeyID: o.str("kms_key_id"), StorageClass: o.str("storage_class")}
	switch strings.ToLower(o.str("tls")) {
	case "", "true", "1", "yes":
	case "false", "0", "no":
		opt.DisableTLS = true
	default:
		return fmt.Errorf("tls=%q: want true or false", o.str("tls"))
	}
	if err := common(o, &opt.PartSize, &opt.Concurrency, opt.SSE, opt.KMSKeyID, minio.MinPartSize); err != nil {
		return err
	}
	spec.MinIO = &opt
	return nil
}

func parseAzure(u *url.URL, q url.Values, spec *Spec) error {
	o := options{q}
	if err := o.check("endpoint", "tier", "block_size", "concurrency"); err != nil {
		return err
	}
	if err := ValidContainer(u.Host); err != nil {
		return err
	}
	prefix, err := prefixOf(u.Path)
	if err != nil {
		return err
	}
	opt := azure.Options{Container: u.Host, Prefix: prefix}
	if e := o.str("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
			return errors.New("endpoint must look like https://ACCOUNT.blob.core.windows.net/")
		}
		if eu.User != nil || eu.RawQuery != "" {
			return errors.New("credentials in the endpoint are refused: put them in AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN")
		}
		opt.Endpoint = e
	}
	switch t := strings.ToLower(o.str("tier")); t {
	case "", "hot", "cool", "cold":
		opt.Tier = t
	case "archive":
		return errors.New("tier=archive is refused: archived blobs cannot be read back without rehydration; use hot, cool or cold")
	default:
		return fmt.Errorf("tier=%q: use hot, cool or cold", o.str("tier"))
	}
	if opt.BlockSize, err = o.size("block_size"); err != nil {
		return err
	}
	if opt.BlockSize != 0 && (opt.BlockSize < 1<<20 || opt.BlockSize > 4000<<20) {
		return errors.New("block_size must be 1MiB..4000MiB")
	}
	if opt.Concurrency, err = o.int("concurrency"); err != nil {
		return err
	}
	spec.Azure = &opt
	return nil
}

func parseGCS(u *url.URL, q url.Values, spec *Spec) error {
	o := options{q}
	if err := o.check("endpoint", "chunk_size", "storage_class"); err != nil {
		return err
	}
	if err := ValidGCSBucket(u.Host); err != nil {
		return err
	}
	prefix, err := prefixOf(u.Path)
	if err != nil {
		return err
	}
	opt := gcs.Options{Bucket: u.Host, Prefix: prefix, StorageClass: o.str("storage_class")}
	if e := o.str("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
			return errors.New("endpoint must look like http://HOST:PORT (an emulator such as fake-gcs-server)")
		}
		if eu.User != nil || eu.RawQuery != "" {
			return errors.New("credentials in the endpoint are refused: an endpoint names an emulator, which takes none; " +
				"Google Cloud Storage's credentials come from GOOGLE_APPLICATION_CREDENTIALS")
		}
		opt.Endpoint = e
	}
	if opt.ChunkSize, err = o.size("chunk_size"); err != nil {
		return err
	}
	if opt.ChunkSize != 0 && (opt.ChunkSize%gcs.MinChunkSize != 0 || opt.ChunkSize > 1<<30) {
		return errors.New("chunk_size must be a multiple of 256KiB, up to 1GiB")
	}
	spec.GCS = &opt
	return nil
}
