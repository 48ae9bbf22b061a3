package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
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

// register adds GET and PUT /limits.
func (l *limits) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /limits", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(l.doc())
	})
	mux.HandleFunc("PUT /limits", func(w http.ResponseWriter, r *http.Request) {
		cur := l.doc()
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cur); err != nil {
			http.Error(w, "bad limits document: "+err.Error(), http.StatusBadRequest)
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
