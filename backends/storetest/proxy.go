package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/walship/walship/backends"
)

// Requests counts the HTTP requests a store's client makes, by method, as
// a proxy in front of a real server sees them.
type Requests struct {
	mu sync.Mutex
	n  map[string]int
}

// Take returns the counts since the last Take and starts again.
func (r *Requests) Take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n = map[string]int{}
	return n
}

// CountingProxy starts a reverse proxy to the HTTP server at target
// ("http://host:port") that counts every request, and returns its URL.
// The Host header passes through unchanged, so signed requests (SigV4,
// Azure shared key) still verify at the server.
func CountingProxy(t testing.TB, target string) (string, *Requests) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rq := &Requests{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rq.mu.Lock()
		rq.n[req.Method]++
		rq.mu.Unlock()
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rq
}

// RunOnePutOneRequest checks that a store whose service honours
// conditional creates makes a Put one HTTP request, reqs counting them (a
// CountingProxy the store talks through): its first Put may also probe
// (two conditional PUTs and a DELETE under backends.ProbePrefix, once);
// then ten Puts are ten PUTs, so is one of a sealed segment's size from a
// file, a Put over an existing key is one refused
// PUT, and the probe leaves nothing behind.
func RunOnePutOneRequest(t *testing.T, st backends.Store, reqs *Requests) {
	t.Helper()
	ctx := context.Background()
	if err := st.Put(ctx, "first", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	if got, want := reqs.Take(), map[string]int{"PUT": 3, "DELETE": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first put (with the probe) made %v requests, want %v", got, want)
	}
	for i := range 10 {
		b := RandBytes(t, 1000+i)
		if err := st.Put(ctx, fmt.Sprintf("seg/%d", i), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"PUT": 10}) {
		t.Fatalf("10 puts made %v requests, want 10 PUTs", got)
	}
	// An uncompressed sealed segment (16 MiB of entries and a header) from
	// a spool file, past the default part size: still one PUT.
	big := RandBytes(t, 17<<20+100)
	f := FileBody(t, big)
	if err := st.Put(ctx, "seg/big", f, int64(len(big))); err != nil {
		t.Fatal(err)
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"PUT": 1}) {
		t.Fatalf("a put of %d bytes made %v requests, want 1 PUT", len(big), got)
	}
	if got := ReadAll(t, st, "seg/big"); !bytes.Equal(got, big) {
		t.Fatalf("seg/big reads back %d bytes, not the %d put", len(got), len(big))
	}
	reqs.Take()
	if err := st.Put(ctx, "seg/3", bytes.NewReader([]byte("other")), 5); !backends.IsExists(err) {
		t.Fatalf("put over an existing key: %v, want ErrExists", err)
	}
	if got := reqs.Take(); fmt.Sprint(got) != fmt.Sprint(map[string]int{"PUT": 1}) {
		t.Fatalf("a refused put made %v requests, want 1 PUT", got)
	}
	var left []string
	if err := st.List(ctx, backends.ProbePrefix, "", func(oi backends.ObjectInfo) error { left = append(left, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("the probe left %v", left)
	}
}
