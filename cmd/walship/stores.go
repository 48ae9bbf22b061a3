package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/config"
	"github.com/walship/walship/throttle"
)

// openStores opens every URL (or every store of the config), checking that
// each is reachable before any data moves. On error the ones opened are
// closed.
func openStores(ctx context.Context, urls []string, cfg *config.Config) ([]agent.Store, error) {
	ss, _, err := openStoresLenient(ctx, urls, cfg, false)
	return ss, err
}

// openStoresLenient is openStores for the agent: with lenient set and
// several stores, a store that is only unreachable (not misconfigured: bad
// credentials or a missing bucket stay fatal) does not stop the others; it
// is returned with a warning and starts degraded, its shipper reconciling
// until it answers. At least one store must pass its check.
func openStoresLenient(ctx context.Context, urls []string, cfg *config.Config, lenient bool) ([]agent.Store, []string, error) {
	type named struct {
		name, url string
		limits    config.Limits
	}
	var list []named
	if cfg != nil {
		for _, s := range cfg.Stores {
			list = append(list, named{s.Name, s.URL, s.Limits})
		}
	}
	for _, u := range urls {
		list = append(list, named{name: "", url: u})
	}
	if len(list) == 0 {
		return nil, nil, usageError("no store given: pass a STORE_URL or --config with stores")
	}
	var out []agent.Store
	var warnings []string
	healthy := 0
	for _, n := range list {
		spec, err := storeurl.Parse(n.url)
		if err != nil {
			closeStores(out)
			return nil, nil, usageError("%v", err)
		}
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		st, err := storeurl.Build(octx, spec)
		if err == nil {
			if cerr := storeurl.Check(octx, st); cerr != nil {
				if !lenient || backends.IsPermanent(cerr) || len(list) == 1 {
					st.Close()
					err = cerr
				} else {
					warnings = append(warnings, fmt.Sprintf("store %s is unreachable (%v); starting without it, it will be reconciled when it answers", spec.Redacted, cerr))
				}
			} else {
				healthy++
			}
		}
		cancel()
		if err != nil {
			closeStores(out)
			return nil, nil, fmt.Errorf("open store %s: %w", spec.Redacted, err)
		}
		name := n.name
		if name == "" {
			name = st.String()
		}
		lim, err := throttle.New(limitsConfig(n.limits))
		if err != nil {
			st.Close()
			closeStores(out)
			return nil, nil, usageError("store %s limits: %v", name, err)
		}
		out = append(out, agent.Store{Name: name, Store: st, Limiter: lim})
	}
	if healthy == 0 {
		closeStores(out)
		return nil, nil, fmt.Errorf("no store is reachable: %s", strings.Join(warnings, "; "))
	}
	return out, warnings, nil
}

// throttled stacks the rate-limit decorator on every store: its own limiter
// and the global one. This is the one place decorators are stacked.
func throttled(ss []agent.Store, global *throttle.Limiter) []agent.Store {
	out := make([]agent.Store, len(ss))
	for i, s := range ss {
		out[i] = s
		out[i].Store = throttle.NewStore(s.Store, s.Limiter, global)
	}
	return out
}

func limitsConfig(l config.Limits) throttle.Config {
	return throttle.Config{UploadBytesPerSec: int64(l.UploadBytesPerSec), DownloadBytesPerSec: int64(l.DownloadBytesPerSec),
		RequestsPerSec: l.RequestsPerSec, BulkUploadBytesPerSec: int64(l.BulkUploadBytesPerSec)}
}

func closeStores(ss []agent.Store) {
	for _, s := range ss {
		s.Store.Close()
	}
}

// readStores opens the store a read command works on: the URL, or every
// store of the config as one union (multi.Store) that reads each object from
// the preferred store first and falls back to the others.
func readStores(ctx context.Context, url string, cfg *config.Config, prefer string) (backends.Store, []agent.Store, func(), error) {
	var urls []string
	if url != "" {
		urls = []string{url}
	}
	ss, err := openStores(ctx, urls, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if prefer != "" {
		i := slices.IndexFunc(ss, func(s agent.Store) bool { return s.Name == prefer })
		if i < 0 {
			closeStores(ss)
			return nil, nil, nil, usageError("--prefer %q: no store of that name in the config", prefer)
		}
		ss = append([]agent.Store{ss[i]}, slices.Delete(slices.Clone(ss), i, i+1)...)
	}
	closeAll := func() { closeStores(ss) }
	// Reads honour the configured download and request limits.
	global := (*throttle.Limiter)(nil)
	if cfg != nil {
		if global, err = throttle.New(limitsConfig(cfg.Limits)); err != nil {
			closeAll()
			return nil, nil, nil, usageError("limits: %v", err)
		}
	}
	ss = throttled(ss, global)
	if len(ss) == 1 {
		return ss[0].Store, ss, closeAll, nil
	}
	var ms []multi.Member
	for _, s := range ss {
		ms = append(ms, multi.Member{Name: s.Name, Store: s.Store})
	}
	return multi.New(ms...), ss, closeAll, nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return cfg, nil
}
