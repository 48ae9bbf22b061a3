package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/config"
	"github.com/walship/walship/throttle"
)

// limits holds the running agent's limiters, changed at run time by SIGHUP
// (config reload) and by the admin endpoint.
type limits struct {
	mu     sync.Mutex
	global *throttle.Limiter
	stores map[string]*throttle.Limiter
	log    *slog.Logger
}

// limitsDoc is the JSON of GET and PUT /limits.
type limitsDoc struct {
	Global throttle.Config            `json:"global"`
	Stores map[string]throttle.Config `json:"stores,omitempty"`
}

func newLimits(global *throttle.Limiter, ss []agent.Store, log *slog.Logger) *limits {
	l := &limits{global: global, stores: map[string]*throttle.Limiter{}, log: log}
	for _, s := range ss {
		l.stores[s.Name] = s.Limiter
	}
	return l
}

func (l *limits) doc() limitsDoc {
	d := limitsDoc{Global: l.global.Config(), Stores: map[string]throttle.Config{}}
	for name, lim := range l.stores {
		d.Stores[name] = lim.Config()
	}
	return d
}

// apply sets every limit in d; a store d does not name keeps its limits.
func (l *limits) apply(d limitsDoc, why string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := d.Global.Validate(); err != nil {
		return fmt.Errorf("global limits: %w", err)
	}
	for name, c := range d.Stores {
		if _, ok := l.stores[name]; !ok {
			return fmt.Errorf("no store named %q", name)
		}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("store %s limits: %w", name, err)
		}
	}
	l.global.Set(d.Global)
	for name, c := range d.Stores {
		l.stores[name].Set(c)
	}
	l.log.Info("rate limits changed", "by", why, "global", fmt.Sprintf("%+v", d.Global))
	return nil
}

// fromConfig applies a reloaded config's limits.
func (l *limits) fromConfig(cfg *config.Config) error {
	d := limitsDoc{Global: limitsConfig(cfg.Limits), Stores: map[string]throttle.Config{}}
	for _, s := range cfg.Stores {
		d.Stores[s.Name] = limitsConfig(s.Limits)
	}
	return l.apply(d, "config reload (SIGHUP)")
}

// Floors for limits set over HTTP: a rate below them stalls shipping
// rather than limiting it (1e-9 requests/s is one request in 30 years).
const (
	minBytesPerSec    = 64 << 10
	minRequestsPerSec = 1
)

// checkFloors rejects a limit below the floors (0 is unlimited and fine),
// negative, NaN or infinite.
func (d limitsDoc) checkFloors() error {
	check := func(who string, c throttle.Config) error {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%s limits: %w", who, err)
		}
		var errs []error
		for _, f := range []struct {
			name string
			v    int64
		}{{"UploadBytesPerSec", c.UploadBytesPerSec}, {"DownloadBytesPerSec", c.DownloadBytesPerSec}, {"BulkUploadBytesPerSec", c.BulkUploadBytesPerSec}} {
			if f.v != 0 && f.v < minBytesPerSec {
				errs = append(errs, fmt.Errorf("%s %s is %d: use at least %d (64 KiB/s), or 0 for unlimited", who, f.name, f.v, minBytesPerSec))
			}
		}
		if r := c.RequestsPerSec; r != 0 && r < minRequestsPerSec {
			errs = append(errs, fmt.Errorf("%s RequestsPerSec is %v: use at least %d, or 0 for unlimited", who, r, minRequestsPerSec))
		}
		return errors.Join(errs...)
	}
	errs := []error{check("global", d.Global)}
	for name, c := range d.Stores {
		errs = append(errs, check("store "+name, c))
	}
	return errors.Join(errs...)
}

// adminToken is the token for the agent's mutating endpoints, for the
// agent and for the commands that call them alike: the content of the file
// metrics.token_file names (which must be owner-only), else $WALSHIP_TOKEN;
// "" when neither is set. Never from a flag (other users see argv) or the
// config itself.
func adminToken(cfg *config.Config) (string, error) {
	if cfg != nil && cfg.Metrics.TokenFile != "" {
		path := cfg.Metrics.TokenFile
		fi, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("metrics.token_file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("metrics.token_file %s has mode %v: others may read the token; run chmod 600 %s", path, fi.Mode().Perm(), path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("metrics.token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("metrics.token_file %s is empty: write a token into it, e.g. openssl rand -hex 32 > %s", path, path)
		}
		return tok, nil
	}
	return strings.TrimSpace(os.Getenv(agent.TokenEnv)), nil
}

// adminCall sends a request to the running agent at addr, with the token
// when there is one and a JSON body when body is not nil.
func adminCall(ctx context.Context, method, addr, path string, body []byte, token string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no agent answers at %s (%v): is walship replicate running with --metrics-addr %s?", addr, err, addr)
	}
	return resp, nil
}

// register adds GET and PUT /limits.
func (l *limits) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /limits", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(l.doc())
	})
	// The agent's handler lets a PUT through only with its token and a
	// JSON body (agent.Agent.Handler).
	mux.HandleFunc("PUT /limits", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read limits document: "+err.Error(), http.StatusBadRequest)
			return
		}
		// sent holds only what the request sets (zero: unset or
		// unlimited); cur is the current limits with the request on top.
		var sent limitsDoc
		cur := l.doc()
		for _, d := range []*limitsDoc{&sent, &cur} {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(d); err != nil {
				http.Error(w, "bad limits document: "+err.Error()+`; want e.g. {"global":{"UploadBytesPerSec":10485760},"stores":{"NAME":{"RequestsPerSec":50}}}`, http.StatusBadRequest)
				return
			}
		}
		if err := sent.checkFloors(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := l.apply(cur, "admin endpoint"); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(l.doc())
	})
}
