package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// httpCounter is a reverse proxy in front of the store's server that counts
// the HTTP requests walship's clients send, by method: what a cloud bills,
// where backends/metered sees only Store calls.
type httpCounter struct {
	mu   sync.Mutex
	n    map[string]int64
	held chan struct{} // while not nil, PUTs and POSTs wait for it to close
	addr string        // host:port to point the clients at
	srv  *http.Server
}

// With setHost the requests reach the target with its own Host header
// (the GCS emulator serves downloads by Host); without, they keep the
// proxy's, which signed requests (S3, MinIO) must.
func newHTTPCounter(target string, setHost bool) (*httpCounter, error) {
	u, err := url.Parse("http://" + target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &httpCounter{n: map[string]int64{}, addr: ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header: signatures still verify
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n[r.Method]++
		held := c.held
		c.mu.Unlock()
		if held != nil && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
			select {
			case <-held:
			case <-r.Context().Done():
				return
			}
		}
		if setHost {
			r.Host = u.Host
		}
		rp.ServeHTTP(w, r)
	})}
	go c.srv.Serve(ln)
	return c, nil
}

// take returns the counts so far and starts again.
func (c *httpCounter) take() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int64{}
	return n
}

// hold makes uploads wait (not fail) until release: a store that stops
// answering for a while, so that a backlog builds up in the agent's spool.
func (c *httpCounter) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = make(chan struct{})
}

// release lets the held uploads and every later one through.
func (c *httpCounter) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil {
		close(c.held)
		c.held = nil
	}
}

func (c *httpCounter) close() { c.release(); c.srv.Close() }

// perObject formats counts divided by n objects, e.g. "PUT 1.00, total 1.00".
func perObject(counts map[string]int64, n int) string {
	var ms []string
	var total int64
	for m, k := range counts {
		ms = append(ms, m)
		total += k
	}
	slices.Sort(ms)
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s %.2f, ", m, float64(counts[m])/float64(n))
	}
	fmt.Fprintf(&b, "total %.2f", float64(total)/float64(n))
	return b.String()
}
