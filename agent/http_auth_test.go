package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/wal"
)

const testToken = "0123456789abcdef-right-token"

// syncBuffer is a bytes.Buffer safe for the agent's goroutines to log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// adminAgent is an agent (not running) whose Admin hook adds PUT /x,
// counting the calls that got through.
func adminAgent(t *testing.T, logs io.Writer, addr string) (*Agent, *atomic.Int64) {
	t.Helper()
	src := newSource(t, tidwal.Binary)
	src.write(10, "a")
	var calls atomic.Int64
	a, err := New(Options{WALDir: src.dir, StateDir: t.TempDir(), Stores: []Store{{Name: "m", Store: mem.New()}},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), MetricsAddr: addr,
		Tail: wal.Options{Poll: 5 * time.Millisecond}, SealInterval: 20 * time.Millisecond,
		Admin: func(mux *http.ServeMux) {
			mux.HandleFunc("PUT /x", func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				io.WriteString(w, "done")
			})
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, &calls
}

type req struct {
	method, path, body, ctype, auth, origin string
}

func (q req) do(h http.Handler) *httptest.ResponseRecorder {
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, "http://127.0.0.1:9090"+q.path, body)
	for k, v := range map[string]string{"Content-Type": q.ctype, "Authorization": q.auth, "Origin": q.origin} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAdminEndpointsOffWithoutToken(t *testing.T) {
	a, calls := adminAgent(t, io.Discard, "")
	h := a.Handler()
	for _, q := range []req{
		{method: "POST", path: "/snapshot"},
		{method: "PUT", path: "/x", body: "{}", ctype: "application/json"},
		{method: "PUT", path: "/x", body: "{}", ctype: "application/json", auth: "Bearer " + testToken},
		{method: "DELETE", path: "/status"},
	} {
		w := q.do(h)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "metrics.token_file") || !strings.Contains(w.Body.String(), TokenEnv) {
			t.Errorf("%s %s without a configured token: %d %q, want 403 saying how to enable", q.method, q.path, w.Code, w.Body)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the guarded handler ran %d times", n)
	}
	for _, p := range []string{"/status", "/healthz", "/metrics"} {
		if w := (req{method: "GET", path: p}).do(h); w.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200 without a token", p, w.Code, w.Body)
		}
	}
}

func TestAdminEndpointsNeedToken(t *testing.T) {
	a, calls := adminAgent(t, io.Discard, "")
	if err := a.SetAdminToken(testToken); err != nil {
		t.Fatal(err)
	}
	h := a.Handler()
	const js = "application/json"
	for _, tc := range []struct {
		name string
		q    req
		code int
		says string
	}{
		{"no token", req{method: "PUT", path: "/x", body: "{}", ctype: js}, 401, "Authorization: Bearer"},
		{"wrong token", req{method: "PUT", path: "/x", body: "{}", ctype: js, auth: "Bearer 0123456789abcdef-wrong-token"}, 401, "admin token"},
		{"prefix of the token", req{method: "PUT", path: "/x", body: "{}", ctype: js, auth: "Bearer " + testToken[:20]}, 401, "admin token"},
		{"basic auth", req{method: "PUT", path: "/x", body: "{}", ctype: js, auth: "Basic " + testToken}, 401, "admin token"},
		{"snapshot without token", req{method: "POST", path: "/snapshot"}, 401, "admin token"},
		{"cross-origin", req{method: "PUT", path: "/x", body: "{}", ctype: js, auth: "Bearer " + testToken, origin: "http://evil.example"}, 403, "cross-origin"},
		{"null origin", req{method: "PUT", path: "/x", body: "{}", ctype: js, auth: "Bearer " + testToken, origin: "null"}, 403, "cross-origin"},
		{"form body", req{method: "PUT", path: "/x", body: "a=b", ctype: "application/x-www-form-urlencoded", auth: "Bearer " + testToken}, 415, "application/json"},
		{"text body", req{method: "PUT", path: "/x", body: "{}", ctype: "text/plain", auth: "Bearer " + testToken}, 415, "application/json"},
		{"no content type", req{method: "PUT", path: "/x", body: "{}", auth: "Bearer " + testToken}, 415, "application/json"},
		{"right token", req{method: "PUT", path: "/x", body: "{}", ctype: js, auth: "Bearer " + testToken}, 200, "done"},
		{"right token, same origin", req{method: "PUT", path: "/x", body: "{}", ctype: "application/json; charset=utf-8", auth: "Bearer " + testToken, origin: "http://127.0.0.1:9090"}, 200, "done"},
	} {
		before := calls.Load()
		w := tc.q.do(h)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, w.Code, w.Body, tc.code, tc.says)
		}
		if ran := calls.Load() != before; ran != (tc.code == 200) {
			t.Errorf("%s: guarded handler ran=%v", tc.name, ran)
		}
		if tc.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
}

func TestSetAdminTokenRejectsWeak(t *testing.T) {
	a, _ := adminAgent(t, io.Discard, "")
	for _, tok := range []string{"short", " 0123456789abcdef0123 ", "0123456789abcde"} {
		if err := a.SetAdminToken(tok); err == nil {
			t.Errorf("SetAdminToken(%q) accepted", tok)
		}
	}
}

// TestTokenNotLogged runs the agent serving on every interface, uses the
// endpoints with right and wrong tokens, and checks the log: a warning
// about the non-loopback address, and never the token.
func TestTokenNotLogged(t *testing.T) {
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs syncBuffer
	a, calls := adminAgent(t, &logs, addr)
	if err := a.SetAdminToken(testToken); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	port := addr[strings.LastIndex(addr, ":"):]
	send := func(auth string) int {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			r, _ := http.NewRequest("PUT", "http://127.0.0.1"+port+"/x", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(r)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent never answered: %v", err)
			}
		}
	}
	if c := send("Bearer " + testToken + "x"); c != 401 {
		t.Fatalf("wrong token: %d", c)
	}
	if c := send("Bearer " + testToken); c != 200 || calls.Load() != 1 {
		t.Fatalf("right token: %d, %d calls", c, calls.Load())
	}
	cancel()
	<-done
	done <- nil
	out := logs.String()
	if !strings.Contains(out, "reachable from other machines") {
		t.Errorf("no warning about serving on %s; log:\n%s", addr, out)
	}
	if strings.Contains(out, testToken) || strings.Contains(out, testToken[:16]) {
		t.Errorf("the token is in the log:\n%s", out)
	}
}
