package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TokenEnv is the environment variable a token for the mutating endpoints
// can come from (the other source is a file, metrics.token_file).
const TokenEnv = "WALSHIP_TOKEN"

// MinTokenLen is the shortest token accepted: a token is a secret, not a
// password someone types (e.g. `openssl rand -hex 32`).
const MinTokenLen = 16

// SetAdminToken enables the mutating endpoints (POST /snapshot, and any
// non-GET route Options.Admin adds) for requests that carry
// "Authorization: Bearer TOKEN". Call it before Run. An empty token turns
// them off again. The token is never logged.
func (a *Agent) SetAdminToken(token string) error {
	if token == "" {
		a.adminSum.Store(nil)
		return nil
	}
	if len(token) < MinTokenLen || strings.TrimSpace(token) != token {
		return fmt.Errorf("admin token: want at least %d characters without surrounding spaces (e.g. the output of `openssl rand -hex 32`)", MinTokenLen)
	}
	sum := sha256.Sum256([]byte(token))
	a.adminSum.Store(&sum)
	return nil
}

func (a *Agent) adminToken() (sum [sha256.Size]byte, ok bool) {
	p := a.adminSum.Load()
	if p == nil {
		return sum, false
	}
	return *p, true
}

// Handler serves the agent's endpoints:
//
//	GET /metrics  Prometheus metrics
//	GET /healthz  200 "ok", or 503 naming a source that cannot be read, a
//	              state dir too full to seal or save state.json in, and
//	              each store whose lag exceeds MaxLag or that is degraded
//	GET /status   Status as JSON (what `walship status` prints)
//	POST /snapshot take a base snapshot now (what `walship snapshot` asks)
//
// plus whatever Options.Admin adds (runtime limit changes). GET and HEAD
// requests are open; every other request goes through requireAdmin: it
// needs the token set by SetAdminToken, no cross-origin Origin, and a JSON
// body if it has one.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if problems := a.unhealthy(); len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, p := range problems {
				fmt.Fprintln(w, p)
			}
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(a.Status())
	})
	mux.HandleFunc("POST /snapshot", func(w http.ResponseWriter, r *http.Request) {
		m, err := a.TakeSnapshot(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"key": m.Key(), "timeline": m.Timeline, "index": m.Index, "files": len(m.Files), "bytes": m.TotalSize})
	})
	if a.opt.Admin != nil {
		a.opt.Admin(mux)
	}
	return a.requireAdmin(mux)
}

// requireAdmin guards every request but GET and HEAD.
func (a *Agent) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			// A browser page elsewhere: never act for it, token or not.
			http.Error(w, fmt.Sprintf("cross-origin request from %s refused: the walship admin endpoints are for the walship CLI and scripts, not web pages", o), http.StatusForbidden)
			return
		}
		want, ok := a.adminToken()
		if !ok {
			http.Error(w, fmt.Sprintf("%s %s is disabled: no admin token is configured; set metrics.token_file in the config (a file holding the token) or %s in the agent's environment, restart the agent, and send the token as \"Authorization: Bearer TOKEN\"", r.Method, r.URL.Path, TokenEnv), http.StatusForbidden)
			return
		}
		got, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Compare digests: constant time, and the same length whatever was sent.
		gotSum := sha256.Sum256([]byte(got))
		if !hasBearer || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="walship"`)
			http.Error(w, fmt.Sprintf("%s %s needs the agent's admin token as \"Authorization: Bearer TOKEN\" (from metrics.token_file or %s)", r.Method, r.URL.Path, TokenEnv), http.StatusUnauthorized)
			return
		}
		if r.ContentLength != 0 { // a body, or one of unknown length
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				http.Error(w, "the request body must be JSON: send \"Content-Type: application/json\"", http.StatusUnsupportedMediaType)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether the Origin header names the host the request
// was sent to (the agent's own pages, were there any).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && strings.EqualFold(u.Host, host)
}

func (a *Agent) unhealthy() []string {
	var out []string
	st := a.Status()
	if st.SourceError != "" {
		out = append(out, "source: "+st.SourceError)
	}
	if st.SealError != "" {
		out = append(out, "seal: "+st.SealError)
	}
	if st.StateError != "" {
		out = append(out, "state: "+st.StateError)
	}
	for _, s := range st.Stores {
		if lag := time.Duration(s.LagSeconds * float64(time.Second)); lag > a.opt.MaxLag {
			out = append(out, fmt.Sprintf("store %s: lag %v exceeds %v (%d entries behind)", s.Name, lag.Round(time.Second), a.opt.MaxLag, s.LagEntries))
		}
		if s.Degraded {
			out = append(out, fmt.Sprintf("store %s: degraded (uploads failing, reconciling)", s.Name))
		}
	}
	return out
}

// isLoopback reports whether a listener's address is reachable only from
// this machine.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// serve runs the HTTP endpoints on addr until ctx ends.
func (a *Agent) serve(ctx context.Context, ln net.Listener) error {
	if !isLoopback(ln.Addr()) {
		_, tok := a.adminToken()
		a.log.Warn("metrics endpoint reachable from other machines: /metrics, /healthz and /status are unauthenticated; serve on 127.0.0.1 unless that is intended",
			"addr", ln.Addr().String(), "admin_endpoints", map[bool]string{true: "token required", false: "disabled (no token)"}[tok])
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics endpoint: %w", err)
	}
}
