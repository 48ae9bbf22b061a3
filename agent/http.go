package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the agent's endpoints:
//
//	GET /metrics  Prometheus metrics
//	GET /healthz  200 "ok", or 503 naming each store whose lag exceeds MaxLag
//	              or that is degraded
//	GET /status   Status as JSON (what `walship status` prints)
//	POST /snapshot take a base snapshot now (what `walship snapshot` asks)
//
// plus whatever Options.Admin adds (runtime limit changes).
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
	return mux
}

func (a *Agent) unhealthy() []string {
	var out []string
	for _, s := range a.Status().Stores {
		if lag := time.Duration(s.LagSeconds * float64(time.Second)); lag > a.opt.MaxLag {
			out = append(out, fmt.Sprintf("store %s: lag %v exceeds %v (%d entries behind)", s.Name, lag.Round(time.Second), a.opt.MaxLag, s.LagEntries))
		}
		if s.Degraded {
			out = append(out, fmt.Sprintf("store %s: degraded (uploads failing, reconciling)", s.Name))
		}
	}
	return out
}

// serve runs the HTTP endpoints on addr until ctx ends.
func (a *Agent) serve(ctx context.Context, ln net.Listener) error {
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
