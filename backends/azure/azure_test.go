package azure_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/azure"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/throttle"
)

const blockSize = 1 << 20 // the smallest staged block, so 5 MiB+1 and 64 MiB are staged uploads

type server struct{ endpoint, account, key string }

var (
	containerOnce sync.Once
	containerName string
	containerErr  error
)

func azurite(t *testing.T) (server, string) {
	t.Helper()
	v := storetest.Env(t, "WALSHIP_TEST_AZURITE_ENDPOINT", "WALSHIP_TEST_AZURITE_ACCOUNT", "WALSHIP_TEST_AZURITE_KEY")
	srv := server{v[0], v[1], v[2]}
	containerOnce.Do(func() {
		containerName = storetest.RandomName("walship-az-")
		st := newStore(t, srv, azure.Options{Container: containerName})
		_, containerErr = st.ContainerClient().Create(context.Background(), (*container.CreateOptions)(nil))
	})
	if containerErr != nil {
		t.Fatalf("create test container: %v", containerErr)
	}
	return srv, containerName
}

func newStore(t *testing.T, srv server, opt azure.Options) *azure.Store {
	t.Helper()
	opt.Endpoint, opt.Account, opt.Key = srv.endpoint, srv.account, srv.key
	st, err := azure.New(opt)
	if err != nil {
		t.Fatalf("azure.New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func fresh(t *testing.T, opt azure.Options) *azure.Store {
	srv, c := azurite(t)
	opt.Container = c
	opt.Prefix = storetest.RandomName("t-")
	opt.BlockSize = blockSize
	opt.SinglePutMax = blockSize // larger objects go in blocks
	return newStore(t, srv, opt)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		return fresh(t, azure.Options{Concurrency: 3})
	}, storetest.Options{
		Large:         true,
		MultipartSize: 2*blockSize + 1,
		CancelSize:    8 << 20,
		CancelAfter:   3 << 20,
	})
}

// TestConnectionString runs a quick round trip with credentials from
// AZURE_STORAGE_CONNECTION_STRING, as storeurl does.
func TestConnectionString(t *testing.T) {
	_, c := azurite(t)
	cs := storetest.Env(t, "WALSHIP_TEST_AZURITE_CONNSTR")[0]
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", cs)
	t.Setenv("AZURE_STORAGE_ACCOUNT", "")
	t.Setenv("AZURE_STORAGE_KEY", "")
	st, err := azure.New(azure.Options{Container: c, Prefix: storetest.RandomName("cs-"), Tier: "cool"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "x", bytes.NewReader([]byte("hi")), 2); err != nil {
		t.Fatal(err)
	}
	if got := storetest.ReadAll(t, st, "x"); string(got) != "hi" {
		t.Fatalf("got %q", got)
	}
}

func TestServerRefusesOverwrite(t *testing.T) {
	st := fresh(t, azure.Options{})
	azure.SkipStat(st)
	ctx := context.Background()
	for key, n := range map[string]int{"small": 10, "large": 3*blockSize + 5} { // Put Blob, Put Block List
		first, second := storetest.RandBytes(t, n), storetest.RandBytes(t, n)
		if err := st.Put(ctx, key, bytes.NewReader(first), int64(n)); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		if err := st.Put(ctx, key, bytes.NewReader(second), int64(n)); !backends.IsExists(err) {
			t.Fatalf("second put of %s without pre-check: got %v, want ErrExists from If-None-Match", key, err)
		}
		if got := storetest.ReadAll(t, st, key); !bytes.Equal(got, first) {
			t.Fatalf("%s was replaced despite If-None-Match", key)
		}
	}
}

func TestCheck(t *testing.T) {
	srv, c := azurite(t)
	ctx := context.Background()
	if err := newStore(t, srv, azure.Options{Container: c}).Check(ctx); err != nil {
		t.Fatalf("check of a good store: %v", err)
	}
	badKey := base64.StdEncoding.EncodeToString(storetest.RandBytes(t, 64))
	closed := "http://" + storetest.ClosedPort(t) + "/devstoreaccount1"
	cases := []struct {
		name      string
		srv       server
		container string
		permanent bool
		want      string
	}{
		{"missing container", srv, "no-such-container", true, "create it"},
		{"bad key", server{srv.endpoint, srv.account, badKey}, c, true, "AZURE_STORAGE_KEY"},
		{"closed port", server{closed, srv.account, srv.key}, c, false, "cannot reach " + closed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t, tc.srv, azure.Options{Container: tc.container})
			start := time.Now()
			err := st.Check(ctx)
			if err == nil {
				t.Fatal("check succeeded")
			}
			msg := err.Error()
			t.Logf("%s (%v)", msg, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "azblob://"+tc.container+":") {
				t.Errorf("error %q does not contain %q and the store name", msg, tc.want)
			}
			if backends.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v", backends.IsPermanent(err), tc.permanent)
			}
			if strings.Contains(msg, tc.srv.key) || strings.Contains(msg, srv.key) || strings.Contains(msg, "\n") {
				t.Errorf("error leaks a key or spans lines: %q", msg)
			}
		})
	}
}

// TestSASNotLeaked: with a SAS token, errors name the service but never
// the token (it would otherwise ride in request URLs).
func TestSASNotLeaked(t *testing.T) {
	const sas = "sv=2024-01-01&ss=b&srt=sco&sp=rwdl&se=2099-01-01T00:00:00Z&sig=SECRETSIGNATURE%3D"
	st, err := azure.New(azure.Options{
		Container: "c-1", Account: "acct", SASToken: sas, Endpoint: "http://" + storetest.ClosedPort(t) + "/acct", MaxRetries: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	errs := []error{st.Check(context.Background()), st.Put(context.Background(), "k", bytes.NewReader([]byte("x")), 1)}
	_, gerr := st.Get(context.Background(), "k", 0, -1)
	errs = append(errs, gerr, st.List(context.Background(), "", "", func(backends.ObjectInfo) error { return nil }))
	for _, err := range errs {
		if err == nil {
			t.Fatal("call against a closed port succeeded")
		}
		if strings.Contains(err.Error(), "SECRETSIGNATURE") || strings.Contains(err.Error(), "sig=") {
			t.Fatalf("error leaks the SAS token: %v", err)
		}
		t.Log(err)
	}
}

func TestRetriesBounded(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("x-ms-error-code", "ServerBusy")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	key := base64.StdEncoding.EncodeToString(storetest.RandBytes(t, 64))
	st, err := azure.New(azure.Options{
		Container: "c-503", Endpoint: srv.URL + "/acct", Account: "acct", Key: key,
		MaxRetries: 2, RetryDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = st.Put(context.Background(), "k", bytes.NewReader([]byte("hello")), 5)
	if err == nil {
		t.Fatal("put against a 503 server succeeded")
	}
	if backends.IsPermanent(err) {
		t.Errorf("503 classified permanent: %v", err)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (1 + MaxRetries)", n)
	}
	if !strings.Contains(err.Error(), "put k") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error does not name the operation and status: %v", err)
	}
	t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
}

func TestNew(t *testing.T) {
	for _, k := range []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"} {
		t.Setenv(k, "")
	}
	if _, err := azure.New(azure.Options{Container: "c-1"}); err == nil || !strings.Contains(err.Error(), "AZURE_STORAGE_CONNECTION_STRING") {
		t.Fatalf("no credentials: %v", err)
	}
	t.Setenv("AZURE_STORAGE_ACCOUNT", "myacct")
	t.Setenv("AZURE_STORAGE_KEY", base64.StdEncoding.EncodeToString([]byte("k")))
	st, err := azure.New(azure.Options{Container: "c-1", Prefix: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if st.String() != "azblob://c-1/db" || !strings.HasPrefix(st.ContainerClient().URL(), "https://myacct.blob.core.windows.net/c-1") {
		t.Errorf("String %q URL %q", st.String(), st.ContainerClient().URL())
	}
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net")
	t.Setenv("AZURE_STORAGE_ACCOUNT", "")
	if _, err := azure.New(azure.Options{Container: "c-1", Endpoint: "http://127.0.0.1:1/a"}); err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Errorf("endpoint with connection string: %v", err)
	}
	for _, o := range []azure.Options{
		{}, {Container: "c", Tier: "archive"}, {Container: "c", Tier: "lukewarm"}, {Container: "c", BlockSize: 1000},
		{Container: "c", Endpoint: "http://h/a?sig=x"}, {Container: "c", Endpoint: "ftp://h"},
	} {
		if _, err := azure.New(o); err == nil || !backends.IsPermanent(err) || strings.Contains(err.Error(), "sig=x") {
			t.Errorf("New(%+v) = %v, want a permanent error", o, err)
		}
	}
}

// TestContentMD5Verified: a body that changes after Put computed its digest
// is refused by the service and leaves no blob.
func TestContentMD5Verified(t *testing.T) {
	st := fresh(t, azure.Options{})
	r := &mutatingReader{Reader: bytes.NewReader(storetest.RandBytes(t, 1000))}
	err := st.Put(context.Background(), "md5", r, 1000)
	if err == nil {
		t.Fatal("put of a body that changed under its Content-MD5 succeeded")
	}
	t.Log(err)
	if _, err := st.Stat(context.Background(), "md5"); !backends.IsNotFound(err) {
		t.Fatalf("stat after refused put: %v, want not found", err)
	}
}

// mutatingReader flips the first byte on every pass after the first.
type mutatingReader struct {
	*bytes.Reader
	passes int
}

func (m *mutatingReader) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekStart {
		m.passes++
	}
	return m.Reader.Seek(off, whence)
}

func (m *mutatingReader) Read(p []byte) (int, error) {
	pos := m.Reader.Size() - int64(m.Reader.Len())
	n, err := m.Reader.Read(p)
	if m.passes > 0 && pos == 0 && n > 0 {
		p[0] ^= 0xff
	}
	return n, err
}

// With the default options, an uncompressed sealed segment (16 MiB of
// entries and a header, past the default block size) from a spool file is
// one Put Blob, not staged blocks and a commit.
func TestSegmentSizedPutIsOneRequest(t *testing.T) {
	srv, c := azurite(t)
	u, err := url.Parse(srv.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy, reqs := storetest.CountingProxy(t, u.Scheme+"://"+u.Host)
	st := newStore(t, server{proxy + u.Path, srv.account, srv.key}, azure.Options{Container: c, Prefix: storetest.RandomName("t-")})
	big := storetest.RandBytes(t, 17<<20+100)
	f := storetest.FileBody(t, big)
	if err := st.Put(context.Background(), "seg/big", f, int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"PUT": 1}) {
		t.Fatalf("a put of %d bytes made %v requests, want 1 PUT", len(big), got)
	}
	if got := storetest.ReadAll(t, st, "seg/big"); !bytes.Equal(got, big) {
		t.Fatalf("seg/big reads back %d bytes, not the %d put", len(got), len(big))
	}
}

// A server that hangs halfway through a streamed Put Blob: the Put times
// out and no blob appears.
func TestStalledPutLeavesNothing(t *testing.T) {
	srv, c := azurite(t)
	u, err := url.Parse(srv.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	opt := azure.Options{Container: c, Prefix: storetest.RandomName("t-")}
	addr, drop := storetest.StallingProxy(t, u.Host, 8<<20)
	stalled := newStore(t, server{u.Scheme + "://" + addr + u.Path, srv.account, srv.key}, opt)
	storetest.RunStalledPut(t, stalled, newStore(t, srv, opt), drop)
}

// Through a throttle, a single upload pays for its body once: the digest
// pass before it reads the local body.
func TestUploadPaidOnce(t *testing.T) {
	st := fresh(t, azure.Options{})
	lim, err := throttle.New(throttle.Config{UploadBytesPerSec: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunPaidOnce(t, throttle.NewStore(deadline.New(st, deadline.Options{}), lim, nil),
		func() int64 { return lim.Stats().Upload.Total().N })
}
