package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
	"github.com/walship/walship/backends/s3"
	"github.com/walship/walship/backends/storetest"
)

// On a server that honours If-None-Match (MinIO), a Put is one request: the
// first Put of a store also probes (two conditional PUTs and a DELETE under
// probe/, once), and an existing key is refused by the PUT itself.
func TestOnePutOneRequest(t *testing.T) {
	srv, bucket := minio(t)
	proxy, reqs := storetest.CountingProxy(t, srv.endpoint)
	st := newStore(t, server{proxy, srv.access, srv.secret}, s3.Options{Bucket: bucket, Prefix: storetest.RandomName("t-")})
	storetest.RunOnePutOneRequest(t, st, reqs)
	if m := s3.Cond(st); m != objio.CondHonoured {
		t.Fatalf("MinIO's conditions: %v, want honoured", m)
	}
}

// fakeS3 is just enough of S3 for Put: PUT, HEAD and DELETE of objects,
// with a choice of what it does with If-None-Match: * on an existing key.
type fakeS3 struct {
	mode string // "ignore": overwrite; "reject": 501 for any conditional PUT
	mu   sync.Mutex
	objs map[string][]byte
	reqs []string // "METHOD cond" per request
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cond := r.Header.Get("If-None-Match")
	f.reqs = append(f.reqs, strings.TrimSpace(r.Method+" "+cond))
	switch r.Method {
	case http.MethodPut:
		if cond != "" && f.mode == "reject" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotImplemented)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.objs[r.URL.Path] = b
		w.Header().Set("ETag", `"e"`)
	case http.MethodHead:
		b, ok := f.objs[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	case http.MethodDelete:
		delete(f.objs, r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func (f *fakeS3) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

// A server that ignores the condition, or refuses it, is found by the
// probe: Put then asks with a HEAD first (and sends no condition to a
// server that refuses it), so an existing object is still never replaced.
func TestConditionsNotHonoured(t *testing.T) {
	for _, c := range []struct {
		mode   string
		want   objio.CondMode
		putReq []string
	}{
		{"ignore", objio.CondIgnored, []string{"HEAD", "PUT *"}},
		{"reject", objio.CondRejected, []string{"HEAD", "PUT"}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			f := &fakeS3{mode: c.mode, objs: map[string][]byte{}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			st, err := s3.New(context.Background(), s3.Options{Bucket: "b", Prefix: "p", Endpoint: srv.URL, MaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
			if err != nil {
				t.Fatal(err)
			}
			s3.UseMD5(st) // this fake checks no digest and confirms none: digests are TestDigestVerified's
			ctx := context.Background()
			if m := s3.Cond(st); m != c.want {
				t.Fatalf("probe found %v, want %v", m, c.want)
			}
			f.take()
			if err := st.Put(ctx, "k", bytes.NewReader([]byte("one")), 3); err != nil {
				t.Fatal(err)
			}
			if got := f.take(); fmt.Sprint(got) != fmt.Sprint(c.putReq) {
				t.Fatalf("put made %q, want %q", got, c.putReq)
			}
			if err := st.Put(ctx, "k", bytes.NewReader([]byte("two")), 3); !backends.IsExists(err) {
				t.Fatalf("second put: %v, want ErrExists", err)
			}
			if got := string(f.objs["/b/p/k"]); got != "one" {
				t.Fatalf("stored object is %q after a refused put, want %q", got, "one")
			}
			if len(f.objs) != 1 {
				t.Fatalf("objects left: %d, want 1 (the probe deletes its own)", len(f.objs))
			}
		})
	}
}
