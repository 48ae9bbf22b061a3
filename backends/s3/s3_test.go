package s3_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/internal/objio"
	"github.com/walship/walship/backends/s3"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/throttle"
)

const partSize = 5 << 20 // S3's minimum, so 5 MiB+1, 64 MiB and the cancel test go multipart

type server struct {
	endpoint, access, secret string
}

var (
	bucketOnce sync.Once
	bucketName string
	bucketErr  error
)

// minio returns the MinIO server from scripts/testenv.sh and a bucket made
// once for this test binary.
func minio(t *testing.T) (server, string) {
	t.Helper()
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY")
	srv := server{endpoint: "http://" + v[0], access: v[1], secret: v[2]}
	bucketOnce.Do(func() {
		bucketName = storetest.RandomName("walship-s3-")
		st := newStore(t, srv, s3.Options{Bucket: bucketName})
		_, bucketErr = st.Client().CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: &bucketName})
	})
	if bucketErr != nil {
		t.Fatalf("create test bucket: %v", bucketErr)
	}
	return srv, bucketName
}

func newStore(t *testing.T, srv server, opt s3.Options) *s3.Store {
	t.Helper()
	opt.Endpoint = srv.endpoint
	if opt.Credentials == nil {
		opt.Credentials = credentials.NewStaticCredentialsProvider(srv.access, srv.secret, "")
	}
	st, err := s3.New(context.Background(), opt)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fresh returns a store on the shared bucket under a new random prefix.
func fresh(t *testing.T, opt s3.Options) *s3.Store {
	srv, bucket := minio(t)
	opt.Bucket = bucket
	opt.Prefix = storetest.RandomName("t-")
	opt.PartSize = partSize
	opt.SinglePutMax = partSize // larger objects go in parts
	return newStore(t, srv, opt)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return fresh(t, s3.Options{Concurrency: 3})
	}, storetest.Options{
		Large:         true,
		MultipartSize: partSize + 1<<20,
		CancelSize:    16 << 20,
		CancelAfter:   11 << 20,
	})
}

func TestServerRefusesOverwrite(t *testing.T) {
	st := fresh(t, s3.Options{})
	s3.SkipHead(st)
	ctx := context.Background()
	for key, n := range map[string]int{"small": 10, "large": partSize + 1} { // PutObject, CompleteMultipartUpload
		first, second := storetest.RandBytes(t, n), storetest.RandBytes(t, n)
		if err := st.Put(ctx, key, bytes.NewReader(first), int64(n)); err != nil {
			t.Fatalf("put %d bytes: %v", n, err)
		}
		err := st.Put(ctx, key, bytes.NewReader(second), int64(n))
		if !backends.IsExists(err) {
			t.Fatalf("second put of %d bytes without HEAD: got %v, want ErrExists from If-None-Match", n, err)
		}
		got := storetest.ReadAll(t, st, key)
		if !bytes.Equal(got, first) {
			t.Fatalf("%d-byte object was replaced despite If-None-Match", n)
		}
	}
	assertNoUploads(t, st, "large")
}

// A body that changes after Put computed its digest is refused by the
// server and leaves no object, whichever digest the Put carries.
func TestDigestVerified(t *testing.T) {
	t.Run("crc32c", func(t *testing.T) {
		st := fresh(t, s3.Options{})
		storetest.RunChangedBodyRefused(t, st)
		if s3.DigestMD5(st) {
			t.Fatal("MinIO's answers did not confirm the CRC32C")
		}
	})
	t.Run("md5", func(t *testing.T) {
		st := fresh(t, s3.Options{})
		s3.UseMD5(st)
		storetest.RunChangedBodyRefused(t, st)
	})
}

// A server whose answers do not confirm the CRC32C: the store falls back
// to Content-MD5 and loses nothing.
func TestUnconfirmedDigestFallsBack(t *testing.T) {
	srv, bucket := minio(t)
	hidden := srv
	hidden.endpoint = "http://" + storetest.ChecksumHidingProxy(t, srv.endpoint)
	storetest.RunUnconfirmedDigest(t, func(t *testing.T) backends.Store {
		return newStore(t, hidden, s3.Options{Bucket: bucket, Prefix: storetest.RandomName("t-")})
	}, func(st backends.Store) { s3.SkipHead(st.(*s3.Store)) }, func(st backends.Store) bool { return s3.DigestMD5(st.(*s3.Store)) })
}

func TestCancelAbortsMultipart(t *testing.T) {
	st := fresh(t, s3.Options{Concurrency: 2})
	data := storetest.RandBytes(t, 4*partSize)
	ctx, cancel := context.WithCancel(context.Background())
	r := &storetest.CancelReader{R: bytes.NewReader(data), After: 2*partSize + 1, Cancel: cancel}
	if err := st.Put(ctx, "big", r, int64(len(data))); err == nil {
		t.Fatal("cancelled multipart put succeeded")
	}
	if _, err := st.Stat(context.Background(), "big"); !backends.IsNotFound(err) {
		t.Fatalf("stat after cancelled put: %v, want not found", err)
	}
	assertNoUploads(t, st, "big")

	// A body shorter than declared must fail on the multipart path too.
	err := st.Put(context.Background(), "short", bytes.NewReader(data[:partSize+10]), int64(len(data)))
	if err == nil || !backends.IsPermanent(err) {
		t.Fatalf("short multipart body: got %v, want a permanent error", err)
	}
	assertNoUploads(t, st, "short")
}

// assertNoUploads fails if multipart uploads of keys are still open. (MinIO
// lists uploads only for an exact object name, so ask per key.)
func assertNoUploads(t *testing.T, st *s3.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		out, err := st.Client().ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{
			Bucket: aws.String(st.Bucket()), Prefix: aws.String(st.Prefix() + k),
		})
		if err != nil {
			t.Fatalf("list multipart uploads: %v", err)
		}
		if len(out.Uploads) != 0 {
			t.Fatalf("%d multipart uploads of %s left behind", len(out.Uploads), k)
		}
	}
}

func TestCheck(t *testing.T) {
	srv, bucket := minio(t)
	ctx := context.Background()
	if err := newStore(t, srv, s3.Options{Bucket: bucket}).Check(ctx); err != nil {
		t.Fatalf("check of a good store: %v", err)
	}
	closed := storetest.ClosedPort(t)
	cases := []struct {
		name      string
		srv       server
		bucket    string
		permanent bool
		want      string
	}{
		{"missing bucket", srv, "walship-no-such-bucket", true, "create bucket walship-no-such-bucket"},
		{"bad secret", server{srv.endpoint, srv.access, "wrong-secret-key-123"}, bucket, true, "AWS_ACCESS_KEY_ID"},
		{"bad access key", server{srv.endpoint, "nobody-key-9876", "wrong-secret-key-123"}, bucket, true, "AWS_ACCESS_KEY_ID"},
		{"closed port", server{"http://" + closed, srv.access, srv.secret}, bucket, false, "cannot reach http://" + closed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newStore(t, c.srv, s3.Options{Bucket: c.bucket, MaxBackoff: 50 * time.Millisecond})
			start := time.Now()
			err := st.Check(ctx)
			if err == nil {
				t.Fatal("check succeeded")
			}
			msg := err.Error()
			t.Logf("%s (%v)", msg, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, "s3://"+c.bucket+":") {
				t.Errorf("error %q does not contain %q and the store name", msg, c.want)
			}
			if backends.IsPermanent(err) != c.permanent {
				t.Errorf("permanent = %v, want %v", backends.IsPermanent(err), c.permanent)
			}
			for _, secret := range []string{c.srv.secret, srv.secret, c.srv.access} {
				if strings.Contains(msg, secret) {
					t.Errorf("error leaks a credential: %q", msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

func TestNoCredentials(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // never call out to an instance metadata service
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	st, err := s3.New(context.Background(), s3.Options{Bucket: "b-123", Endpoint: "http://" + storetest.ClosedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Check(context.Background())
	if err == nil || !backends.IsPermanent(err) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("check without credentials: got %v", err)
	}
	t.Log(err)
}

// TestRetriesBounded: a server that answers 503 to everything gets exactly
// MaxAttempts tries of a call, then a clear, transient error.
func TestRetriesBounded(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
	}))
	defer srv.Close()
	st := newStore(t, server{srv.URL, "AKIDTEST", "secret-for-503-test"}, s3.Options{
		Bucket: "bucket-503", Prefix: "p", MaxAttempts: 3, MaxBackoff: 20 * time.Millisecond,
	})
	for _, skipHead := range []bool{false, true} {
		if skipHead {
			s3.SkipHead(st)
		} else {
			s3.SetCond(st, objio.CondIgnored) // HEAD, then PUT
		}
		hits.Store(0)
		start := time.Now()
		err := st.Put(context.Background(), "k", bytes.NewReader([]byte("hello")), 5)
		if err == nil {
			t.Fatal("put against a 503 server succeeded")
		}
		if backends.IsPermanent(err) {
			t.Errorf("503 classified permanent: %v", err)
		}
		if n := hits.Load(); n != 3 {
			t.Errorf("server saw %d requests, want 3 (MaxAttempts)", n)
		}
		if !strings.Contains(err.Error(), "put k") || !strings.Contains(err.Error(), "503") {
			t.Errorf("error does not name the operation and status: %v", err)
		}
		t.Logf("skipHead=%v: %v after %v", skipHead, err, time.Since(start).Round(time.Millisecond))
	}
}

func TestPutInput(t *testing.T) {
	st, err := s3.New(context.Background(), s3.Options{
		Bucket: "b-123", Prefix: "/db/", Endpoint: "http://127.0.0.1:1", SSE: "aws:kms", KMSKeyID: "key-1",
		StorageClass: "STANDARD_IA", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.String(); got != "s3://b-123/db" {
		t.Errorf("String() = %q", got)
	}
	in := s3.PutInput(st, "db/x", nil, true)
	if aws.ToString(in.IfNoneMatch) != "*" || in.ServerSideEncryption != types.ServerSideEncryptionAwsKms ||
		aws.ToString(in.SSEKMSKeyId) != "key-1" || in.StorageClass != types.StorageClassStandardIa {
		t.Errorf("put input %+v", in)
	}
	bad := []s3.Options{
		{},
		{Bucket: "b", PartSize: 1 << 20},
		{Bucket: "b", SSE: "rot13"},
		{Bucket: "b", KMSKeyID: "k"},
		{Bucket: "b", Endpoint: "ftp://x"},
		{Bucket: "b", Endpoint: "http://user:pass@host:9000"},
	}
	for _, o := range bad {
		o.Credentials = credentials.NewStaticCredentialsProvider("a", "b", "")
		if _, err := s3.New(context.Background(), o); err == nil || !backends.IsPermanent(err) || strings.Contains(err.Error(), "pass") {
			t.Errorf("New(%+v): got %v, want a permanent error without secrets", o, err)
		}
	}
}

// Through a throttle, a single PUT pays for its body once: the digest pass
// reads the local body, and the signature does not hash the body again.
func TestUploadPaidOnce(t *testing.T) {
	st := fresh(t, s3.Options{})
	s3.SkipHead(st)
	lim, err := throttle.New(throttle.Config{UploadBytesPerSec: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunPaidOnce(t, throttle.NewStore(deadline.New(st, deadline.Options{}), lim, nil),
		func() int64 { return lim.Stats().Upload.Total().N })
}
