package gcs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/gcs"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/throttle"
)

// chunkSize is small so 2 MiB+1, 5 MiB+1 and 64 MiB go resumable in
// several chunks (1 MiB, not the 256 KiB minimum: the emulator rehashes a
// whole session's bytes at every chunk).
const chunkSize = 1 << 20

var (
	bucketOnce sync.Once
	bucketName string
	bucketErr  error
)

// emulator returns fake-gcs-server's endpoint and a fresh bucket created
// on it once per test binary.
func emulator(t *testing.T) (string, string) {
	t.Helper()
	ep := storetest.Env(t, "WALSHIP_TEST_GCS_ENDPOINT")[0]
	bucketOnce.Do(func() {
		bucketName = storetest.RandomName("walship-gcs-")
		st := newStore(t, ep, gcs.Options{Bucket: bucketName})
		bucketErr = st.Client().Bucket(bucketName).Create(context.Background(), "walship-test", nil)
	})
	if bucketErr != nil {
		t.Fatalf("create test bucket: %v", bucketErr)
	}
	return ep, bucketName
}

func newStore(t *testing.T, endpoint string, opt gcs.Options) *gcs.Store {
	t.Helper()
	opt.Endpoint = endpoint
	st, err := gcs.New(context.Background(), opt)
	if err != nil {
		t.Fatalf("gcs.New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func fresh(t *testing.T, opt gcs.Options) *gcs.Store {
	ep, bucket := emulator(t)
	opt.Bucket = bucket
	opt.Prefix = storetest.RandomName("t-")
	opt.ChunkSize = chunkSize
	opt.SinglePutMax = chunkSize // larger objects go in resumable uploads
	return newStore(t, ep, opt)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return fresh(t, gcs.Options{})
	}, storetest.Options{
		Large:         true,
		MultipartSize: 2*chunkSize + 1,
		CancelSize:    8 << 20,
		CancelAfter:   3 << 20,
	})
}

// A Put is one request (a multipart POST) up to ChunkSize, and a refused
// one too: no existence check, no probe. A larger one is a resumable
// session: one POST to open it, then one POST per chunk (the client sends
// chunks with POST).
func TestOnePutOneRequest(t *testing.T) {
	ep, bucket := emulator(t)
	proxy, reqs := storetest.CountingProxy(t, ep)
	opt := gcs.Options{Bucket: bucket, Prefix: storetest.RandomName("t-"), ChunkSize: chunkSize, SinglePutMax: chunkSize}
	st := newStore(t, proxy, opt)
	ctx := context.Background()
	for i := range 10 {
		b := storetest.RandBytes(t, 1000+i)
		if err := st.Put(ctx, fmt.Sprintf("seg/%d", i), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"POST": 10}) {
		t.Fatalf("10 puts made %v requests, want 10 POSTs", got)
	}
	if err := st.Put(ctx, "seg/3", bytes.NewReader([]byte("other")), 5); !backends.IsExists(err) {
		t.Fatalf("put over an existing key: %v, want ErrExists", err)
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"POST": 1}) {
		t.Fatalf("a refused put made %v requests, want 1 POST", got)
	}
	exact := storetest.RandBytes(t, chunkSize) // exactly ChunkSize: still one request
	if err := st.Put(ctx, "exact", bytes.NewReader(exact), chunkSize); err != nil {
		t.Fatal(err)
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"POST": 1}) {
		t.Fatalf("a put of ChunkSize bytes made %v requests, want 1 POST", got)
	}
	big := storetest.RandBytes(t, 3*chunkSize+5)
	if err := st.Put(ctx, "big", bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"POST": 5}) {
		t.Fatalf("a put of 3 chunks and 5 bytes made %v requests, want 5 POSTs (open the session, 4 chunks)", got)
	}
	// Read back directly: the emulator serves reads only on its own host
	// (-public-host), which the proxy's Host header is not.
	if got := storetest.ReadAll(t, newStore(t, ep, opt), "big"); !bytes.Equal(got, big) {
		t.Fatal("big object read back differs")
	}
}

// TestCancelResumable cancels an upload after two chunks have gone out:
// the session is abandoned and no object appears.
func TestCancelResumable(t *testing.T) {
	ep, bucket := emulator(t)
	proxy, reqs := storetest.CountingProxy(t, ep)
	st := newStore(t, proxy, gcs.Options{Bucket: bucket, Prefix: storetest.RandomName("t-"), ChunkSize: chunkSize, SinglePutMax: chunkSize})
	data := storetest.RandBytes(t, 6*chunkSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &passReader{Reader: bytes.NewReader(data), onPass: 1, after: 2*chunkSize + 100, fn: cancel}
	err := st.Put(ctx, "c/big", r, int64(len(data)))
	if err == nil {
		t.Fatal("cancelled resumable put succeeded")
	}
	t.Log(err)
	// The session was open and at least one chunk out before the cancel.
	if got := reqs.Take(); got["POST"] < 2 {
		t.Fatalf("the cancelled put made %v requests, want at least 2 POSTs (session and a chunk)", got)
	}
	if _, err := st.Stat(context.Background(), "c/big"); !backends.IsNotFound(err) {
		t.Fatalf("stat after cancelled put: %v, want not found", err)
	}
	// A body that changes length under its upload fails and leaves nothing.
	r = &passReader{Reader: bytes.NewReader(data), onPass: 1, after: 4 * chunkSize, truncate: true}
	err = st.Put(context.Background(), "c/short", r, int64(len(data)))
	if err == nil || !backends.IsPermanent(err) {
		t.Fatalf("body cut short on the upload pass: %v, want a permanent error", err)
	}
	if _, err := st.Stat(context.Background(), "c/short"); !backends.IsNotFound(err) {
		t.Fatalf("stat after short put: %v, want not found", err)
	}
}

// TestCRC32CVerified: a body that changes after Put computed its CRC32C is
// refused by the service and leaves no object, and the refusal is worth a
// retry (the bytes were damaged, not the request).
//
// Only the single-request path is tested: fake-gcs-server v1.56.1 checks
// a declared CRC32C on a multipart upload, and on a resumable one only when
// it arrives in one chunk (it drops the declared checksum when it stores the
// session after an intermediate chunk), so a multi-chunk mismatch cannot be
// shown against it.
func TestCRC32CVerified(t *testing.T) {
	st := fresh(t, gcs.Options{})
	for _, n := range []int{1000, chunkSize} {
		key := fmt.Sprintf("crc-%d", n)
		r := &passReader{Reader: bytes.NewReader(storetest.RandBytes(t, n)), onPass: 1, flip: true}
		err := st.Put(context.Background(), key, r, int64(n))
		if err == nil {
			t.Fatalf("put of a body that changed under its CRC32C (%d bytes) succeeded", n)
		}
		t.Log(err)
		if backends.IsPermanent(err) {
			t.Errorf("checksum mismatch classified permanent: %v", err)
		}
		if _, err := st.Stat(context.Background(), key); !backends.IsNotFound(err) {
			t.Fatalf("stat after refused put: %v, want not found", err)
		}
	}
}

// passReader misbehaves on its pass-th reading from the start (counting
// from 0; every Seek to 0 starts a new one): after `after` bytes it calls fn
// and fails, or ends early (truncate); with flip it inverts the first byte.
type passReader struct {
	*bytes.Reader
	onPass, pass  int
	after, n      int
	fn            func()
	truncate      bool
	flip          bool
	started, done bool
}

func (p *passReader) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekStart && p.started {
		p.pass++
		p.n = 0
	}
	return p.Reader.Seek(off, whence)
}

func (p *passReader) Read(b []byte) (int, error) {
	p.started = true
	if p.pass != p.onPass {
		return p.Reader.Read(b)
	}
	if p.after > 0 && p.n >= p.after {
		if p.truncate {
			return 0, io.EOF
		}
		if p.fn != nil {
			p.fn()
		}
		return 0, context.Canceled
	}
	if p.after > 0 && len(b) > p.after-p.n {
		b = b[:p.after-p.n]
	}
	pos := p.Reader.Size() - int64(p.Reader.Len())
	n, err := p.Reader.Read(b)
	if p.flip && pos == 0 && n > 0 {
		b[0] ^= 0xff
	}
	p.n += n
	return n, err
}

// TestMissingBucket: every call on a bucket that does not exist fails with
// a permanent error that names the bucket and says what to do; Check says
// so first, on one line.
func TestMissingBucket(t *testing.T) {
	ep, _ := emulator(t)
	st := newStore(t, ep, gcs.Options{Bucket: "walship-no-such-bucket", Prefix: "db"})
	ctx := context.Background()
	err := st.Check(ctx)
	if err == nil || !backends.IsPermanent(err) {
		t.Fatalf("check of a missing bucket: %v, want a permanent error", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{"gs://walship-no-such-bucket/db:", `bucket "walship-no-such-bucket" does not exist at ` + ep, "create it"} {
		if !strings.Contains(msg, want) {
			t.Errorf("check error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("check error spans lines: %q", msg)
	}
	for name, err := range map[string]error{
		"put":  st.Put(ctx, "k", bytes.NewReader([]byte("x")), 1),
		"list": st.List(ctx, "", "", func(backends.ObjectInfo) error { return nil }),
		"put-if": func() error {
			_, err := st.PutIf(ctx, "lease.json", bytes.NewReader([]byte("{}")), 2, "")
			return err
		}(),
	} {
		if err == nil || !backends.IsPermanent(err) || backends.IsExists(err) || backends.IsConflict(err) ||
			!strings.Contains(err.Error(), `bucket "walship-no-such-bucket" does not exist`) {
			t.Errorf("%s on a missing bucket: %v, want a permanent missing-bucket error", name, err)
		}
	}
}

func TestCheck(t *testing.T) {
	ep, bucket := emulator(t)
	ctx := context.Background()
	if err := newStore(t, ep, gcs.Options{Bucket: bucket, Prefix: "x"}).Check(ctx); err != nil {
		t.Fatalf("check of a good store: %v", err)
	}
	closed := "http://" + storetest.ClosedPort(t)
	st := newStore(t, closed, gcs.Options{Bucket: bucket})
	start := time.Now()
	err := st.Check(ctx)
	if err == nil {
		t.Fatal("check against a closed port succeeded")
	}
	msg := err.Error()
	t.Logf("%s (%v)", msg, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(msg, "cannot reach "+closed) || !strings.HasPrefix(msg, "gs://"+bucket+":") || strings.Contains(msg, "\n") {
		t.Errorf("closed port: %q", msg)
	}
	if backends.IsPermanent(err) {
		t.Errorf("closed port classified permanent: %v", err)
	}
}

// TestForbidden: 401 and 403 answers are permanent, name the operation,
// and point at the credentials.
func TestForbidden(t *testing.T) {
	for _, code := range []int{401, 403} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error":{"code":%d,"message":"caller does not have storage.objects.create access","errors":[{"reason":"forbidden","message":"caller does not have storage.objects.create access"}]}}`, code)
		}))
		st, err := gcs.New(context.Background(), gcs.Options{Bucket: "b-1", Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		for name, err := range map[string]error{
			"put":   st.Put(context.Background(), "k", bytes.NewReader([]byte("x")), 1),
			"check": st.Check(context.Background()),
		} {
			if err == nil || !backends.IsPermanent(err) || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") {
				t.Errorf("HTTP %d on %s: %v, want a permanent error pointing at the credentials", code, name, err)
			}
			t.Log(err)
		}
		st.Close()
		srv.Close()
	}
}

func TestRetriesBounded(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"code":503,"message":"Backend Error","errors":[{"reason":"backendError","message":"Backend Error"}]}}`)
	}))
	defer srv.Close()
	st, err := gcs.New(context.Background(), gcs.Options{
		Bucket: "bucket-503", Endpoint: srv.URL, MaxAttempts: 3, RetryDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	err = st.Put(context.Background(), "k", bytes.NewReader([]byte("hello")), 5)
	if err == nil {
		t.Fatal("put against a 503 server succeeded")
	}
	if backends.IsPermanent(err) {
		t.Errorf("503 classified permanent: %v", err)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (MaxAttempts)", n)
	}
	if !strings.Contains(err.Error(), "put k") || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error does not name the operation and status on one line: %v", err)
	}
	t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
}

func TestNew(t *testing.T) {
	ctx := context.Background()
	st, err := gcs.New(ctx, gcs.Options{Bucket: "b-1", Prefix: "/x/y/", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if st.String() != "gs://b-1/x/y" || st.Prefix() != "x/y/" {
		t.Errorf("String() = %q, Prefix() = %q", st.String(), st.Prefix())
	}
	st.Close()
	for _, o := range []gcs.Options{
		{}, {Bucket: "a/b"}, {Bucket: "b", Prefix: "a//b"}, {Bucket: "b", ChunkSize: 1000}, {Bucket: "b", ChunkSize: 2 << 30},
		{Bucket: "b", Endpoint: "127.0.0.1:4443"}, {Bucket: "b", Endpoint: "http://u:secretsecret@h:1"},
		{Bucket: "b", Endpoint: "http://h:1/?token=secretsecret"}, {Bucket: "b", Endpoint: "ftp://h:1"},
	} {
		_, err := gcs.New(ctx, o)
		if err == nil || !backends.IsPermanent(err) || strings.Contains(err.Error(), "secretsecret") {
			t.Errorf("New(%+v) = %v, want a permanent error without the secret", o, err)
		}
	}
}

// TestNoCredentials: without an emulator endpoint, credentials come from
// Application Default Credentials; a key file that is not there fails New
// with one permanent line saying where credentials come from.
func TestNoCredentials(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing-key.json"))
	_, err := gcs.New(context.Background(), gcs.Options{Bucket: "b-1"})
	if err == nil {
		t.Fatal("New with a missing key file succeeded")
	}
	t.Log(err)
	if !backends.IsPermanent(err) || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") || strings.Contains(err.Error(), "\n") {
		t.Errorf("New with a missing key file: %v", err)
	}
	if _, statErr := os.Stat(os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")); statErr == nil {
		t.Error("New created the key file")
	}
}

// TestBlackHole: against a server that accepts connections and never
// answers, every call returns once its context ends, with an error that
// says so.
func TestBlackHole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	st, err := gcs.New(context.Background(), gcs.Options{Bucket: "b-1", Endpoint: "http://" + ln.Addr().String(), ChunkSize: gcs.MinChunkSize, SinglePutMax: gcs.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	big := bytes.Repeat([]byte("w"), 3*gcs.MinChunkSize)
	calls := map[string]func(context.Context) error{
		"put":       func(ctx context.Context) error { return st.Put(ctx, "k", bytes.NewReader([]byte("x")), 1) },
		"put-large": func(ctx context.Context) error { return st.Put(ctx, "big", bytes.NewReader(big), int64(len(big))) },
		"get":       func(ctx context.Context) error { _, err := st.Get(ctx, "k", 0, -1); return err },
		"stat":      func(ctx context.Context) error { _, err := st.Stat(ctx, "k"); return err },
		"list": func(ctx context.Context) error {
			return st.List(ctx, "", "", func(backends.ObjectInfo) error { return nil })
		},
		"delete": func(ctx context.Context) error { return st.Delete(ctx, "k") },
		"check":  func(ctx context.Context) error { return st.Check(ctx) },
		"put-if": func(ctx context.Context) error {
			_, err := st.PutIf(ctx, "l", bytes.NewReader([]byte("{}")), 2, "")
			return err
		},
		"get-version": func(ctx context.Context) error { _, _, err := st.GetVersion(ctx, "l"); return err },
	}
	for op, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: returned after %v", op, d)
		}
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s against a black hole: %v, want an error wrapping context.DeadlineExceeded", op, err)
		}
	}
}

// With the default options, an uncompressed sealed segment (16 MiB of
// entries and a header, past the default chunk size) is one request,
// streamed from the body; an upload of that kind cancelled halfway, or
// whose body changes under it, leaves no object.
func TestSegmentSizedPutIsOneRequest(t *testing.T) {
	ep, bucket := emulator(t)
	proxy, reqs := storetest.CountingProxy(t, ep)
	opt := gcs.Options{Bucket: bucket, Prefix: storetest.RandomName("t-")}
	st := newStore(t, proxy, opt)
	big := storetest.RandBytes(t, 17<<20+100)
	if err := st.Put(context.Background(), "seg/big", bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"POST": 1}) {
		t.Fatalf("a put of %d bytes made %v requests, want 1 POST", len(big), got)
	}
	if got := storetest.ReadAll(t, newStore(t, ep, opt), "seg/big"); !bytes.Equal(got, big) {
		t.Fatal("seg/big read back differs")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &passReader{Reader: bytes.NewReader(big), onPass: 1, after: 8 << 20, fn: cancel}
	if err := st.Put(ctx, "seg/cancelled", r, int64(len(big))); err == nil {
		t.Fatal("cancelled streamed put succeeded")
	}
	r = &passReader{Reader: bytes.NewReader(big), onPass: 1, after: 8 << 20, truncate: true}
	if err := st.Put(context.Background(), "seg/short", r, int64(len(big))); err == nil || !backends.IsPermanent(err) {
		t.Fatalf("body cut short on the upload pass: %v, want a permanent error", err)
	}
	for _, key := range []string{"seg/cancelled", "seg/short"} {
		if _, err := st.Stat(context.Background(), key); !backends.IsNotFound(err) {
			t.Fatalf("stat %s after a failed put: %v, want not found", key, err)
		}
	}
}

// A server that hangs halfway through a streamed single request: the Put
// times out and no object appears.
func TestStalledPutLeavesNothing(t *testing.T) {
	ep, bucket := emulator(t)
	opt := gcs.Options{Bucket: bucket, Prefix: storetest.RandomName("t-")}
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	addr, drop := storetest.StallingProxy(t, u.Host, 8<<20)
	storetest.RunStalledPut(t, newStore(t, "http://"+addr, opt), newStore(t, ep, opt), drop)
}

// Through a throttle, a single upload pays for its body once: the digest
// pass before it reads the local body.
func TestUploadPaidOnce(t *testing.T) {
	st := fresh(t, gcs.Options{})
	lim, err := throttle.New(throttle.Config{UploadBytesPerSec: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunPaidOnce(t, throttle.NewStore(deadline.New(st, deadline.Options{}), lim, nil),
		func() int64 { return lim.Stats().Upload.Total().N })
}
