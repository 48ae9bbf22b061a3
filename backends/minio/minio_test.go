package minio_test

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

	mgo "github.com/minio/minio-go/v7"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
)

const partSize = minio.MinPartSize

type server struct{ endpoint, access, secret string }

var (
	bucketOnce sync.Once
	bucketName string
	bucketErr  error
)

func testServer(t *testing.T) (server, string) {
	t.Helper()
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_ENDPOINT", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY")
	srv := server{v[0], v[1], v[2]}
	bucketOnce.Do(func() {
		bucketName = storetest.RandomName("walship-minio-")
		st := newStore(t, srv, minio.Options{Bucket: bucketName})
		bucketErr = st.Client().MakeBucket(context.Background(), bucketName, mgo.MakeBucketOptions{})
	})
	if bucketErr != nil {
		t.Fatalf("create test bucket: %v", bucketErr)
	}
	return srv, bucketName
}

func newStore(t *testing.T, srv server, opt minio.Options) *minio.Store {
	t.Helper()
	opt.Endpoint = srv.endpoint
	opt.AccessKey, opt.SecretKey = srv.access, srv.secret
	opt.DisableTLS = true
	st, err := minio.New(opt)
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func fresh(t *testing.T, opt minio.Options) *minio.Store {
	srv, bucket := testServer(t)
	opt.Bucket = bucket
	opt.Prefix = storetest.RandomName("t-")
	opt.PartSize = partSize
	opt.SinglePutMax = partSize // larger objects go in parts
	return newStore(t, srv, opt)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return fresh(t, minio.Options{Concurrency: 3})
	}, storetest.Options{
		Large:         true,
		MultipartSize: partSize + 1<<20,
		CancelSize:    16 << 20,
		CancelAfter:   11 << 20,
	})
}

// TestServerRefusesOverwrite proves If-None-Match: * reaches MinIO on both
// the single PUT and the multipart paths: with the StatObject pre-check
// off, the server itself refuses the second create.
func TestServerRefusesOverwrite(t *testing.T) {
	st := fresh(t, minio.Options{})
	minio.SkipStat(st)
	ctx := context.Background()
	for key, n := range map[string]int{"small": 10, "large": partSize + 1} {
		first, second := storetest.RandBytes(t, n), storetest.RandBytes(t, n)
		if err := st.Put(ctx, key, bytes.NewReader(first), int64(n)); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		// Also through a reader without ReadAt (minio-go's sequential path).
		for _, r := range []interface {
			Read([]byte) (int, error)
			Seek(int64, int) (int64, error)
		}{bytes.NewReader(second), onlySeeker{bytes.NewReader(second)}} {
			if err := st.Put(ctx, key, r, int64(n)); !backends.IsExists(err) {
				t.Fatalf("second put of %s without stat: got %v, want ErrExists from If-None-Match", key, err)
			}
		}
		if got := storetest.ReadAll(t, st, key); !bytes.Equal(got, first) {
			t.Fatalf("%s was replaced despite If-None-Match", key)
		}
	}
	assertNoUploads(t, st, "large")
}

type onlySeeker struct{ r *bytes.Reader }

func (o onlySeeker) Read(p []byte) (int, error)                { return o.r.Read(p) }
func (o onlySeeker) Seek(off int64, whence int) (int64, error) { return o.r.Seek(off, whence) }

func TestCancelAbortsMultipart(t *testing.T) {
	st := fresh(t, minio.Options{Concurrency: 2})
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
	err := st.Put(context.Background(), "short", bytes.NewReader(data[:partSize+10]), int64(len(data)))
	if err == nil || !backends.IsPermanent(err) {
		t.Fatalf("short multipart body: got %v, want a permanent error", err)
	}
	if _, err := st.Stat(context.Background(), "short"); !backends.IsNotFound(err) {
		t.Fatalf("stat after short put: %v, want not found", err)
	}
	assertNoUploads(t, st, "short")
}

func assertNoUploads(t *testing.T, st *minio.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		res, err := mgo.Core{Client: st.Client()}.ListMultipartUploads(context.Background(), st.Bucket(), st.Prefix()+k, "", "", "", 100)
		if err != nil {
			t.Fatalf("list multipart uploads: %v", err)
		}
		if len(res.Uploads) != 0 {
			t.Fatalf("%d multipart uploads of %s left behind", len(res.Uploads), k)
		}
	}
}

func TestCheck(t *testing.T) {
	srv, bucket := testServer(t)
	ctx := context.Background()
	if err := newStore(t, srv, minio.Options{Bucket: bucket}).Check(ctx); err != nil {
		t.Fatalf("check of a good store: %v", err)
	}
	closed := storetest.ClosedPort(t)
	cases := []struct {
		name      string
		srv       server
		bucket    string
		tls       bool
		permanent bool
		want      string
	}{
		{"missing bucket", srv, "walship-no-such-bucket", false, true, "create bucket walship-no-such-bucket"},
		{"bad secret", server{srv.endpoint, srv.access, "wrong-secret-key-123"}, bucket, false, true, "MINIO_ACCESS_KEY"},
		{"bad access key", server{srv.endpoint, "nobody-key-9876", "wrong-secret-key-123"}, bucket, false, true, "MINIO_ACCESS_KEY"},
		{"closed port", server{closed, srv.access, srv.secret}, bucket, false, false, "cannot reach http://" + closed},
		{"tls to plain http", srv, bucket, true, false, "tls=false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := minio.Options{Endpoint: c.srv.endpoint, Bucket: c.bucket, AccessKey: c.srv.access, SecretKey: c.srv.secret, DisableTLS: !c.tls}
			st, err := minio.New(opt)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = st.Check(ctx)
			if err == nil {
				t.Fatal("check succeeded")
			}
			msg := err.Error()
			t.Logf("%s (%v)", msg, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, "minio://"+c.srv.endpoint+"/"+c.bucket+":") {
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

func TestRetriesBounded(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
	}))
	defer srv.Close()
	st, err := minio.New(minio.Options{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), DisableTLS: true, Bucket: "bucket-503",
		AccessKey: "AKIDTEST", SecretKey: "secret-for-503-test", MaxRetries: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	minio.SkipStat(st)
	start := time.Now()
	err = st.Put(context.Background(), "k", bytes.NewReader([]byte("hello")), 5)
	if err == nil {
		t.Fatal("put against a 503 server succeeded")
	}
	if backends.IsPermanent(err) {
		t.Errorf("503 classified permanent: %v", err)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (MaxRetries)", n)
	}
	if !strings.Contains(err.Error(), "put k") {
		t.Errorf("error does not name the operation: %v", err)
	}
	t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
}

func TestNew(t *testing.T) {
	t.Setenv("MINIO_ACCESS_KEY", "")
	t.Setenv("MINIO_SECRET_KEY", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := minio.New(minio.Options{Endpoint: "h:1", Bucket: "b-1"}); err == nil || !strings.Contains(err.Error(), "MINIO_ACCESS_KEY") {
		t.Fatalf("no credentials: got %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "aws-a")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-s")
	st, err := minio.New(minio.Options{Endpoint: "h:1", Bucket: "b-1", Prefix: "x/y/"})
	if err != nil {
		t.Fatalf("AWS env credentials: %v", err)
	}
	if st.String() != "minio://h:1/b-1/x/y" {
		t.Errorf("String() = %q", st.String())
	}
	for _, o := range []minio.Options{
		{Bucket: "b"}, {Endpoint: "http://h:1", Bucket: "b"}, {Endpoint: "u:p@h:1", Bucket: "b"}, {Endpoint: "h:1"},
		{Endpoint: "h:1", Bucket: "b", PartSize: 1024}, {Endpoint: "h:1", Bucket: "b", SSE: "x"},
		{Endpoint: "h:1", Bucket: "b", KMSKeyID: "k"},
	} {
		if _, err := minio.New(o); err == nil || !backends.IsPermanent(err) {
			t.Errorf("New(%+v) = %v, want a permanent error", o, err)
		}
	}
}
