package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/config"
	"github.com/walship/walship/throttle"
)

// openStores opens every URL (or every store of the config), checking that
// each is reachable before any data moves. On error the ones opened are
// closed.
func openStores(ctx context.Context, urls []string, cfg *config.Config) ([]agent.Store, error) {
	ss, _, err := openStoresWith(ctx, urls, cfg, strict, false)
	return ss, err
}

// openExisting is openStores for commands that change a backup (mark,
// prune, compact): a file store that does not exist is an error, not a new
// empty store.
func openExisting(ctx context.Context, urls []string, cfg *config.Config) ([]agent.Store, error) {
	ss, _, err := openStoresWith(ctx, urls, cfg, strict, true)
	return ss, err
}

// openMode says what opening does with a store that does not answer its
// check when there are others (with one store, it is always an error).
type openMode int

const (
	strict   openMode = iota // an error
	lenient                  // kept with a warning (the agent reconciles it later); start waits checkGrace for it
	skipDown                 // left out with a warning (readers use the others)
)

func openStoresLenient(ctx context.Context, urls []string, cfg *config.Config, keep bool) ([]agent.Store, []string, error) {
	mode := strict
	if keep {
		mode = lenient
	}
	return openStoresMode(ctx, urls, cfg, mode)
}

// openStoresMode opens the stores. With several stores, a store that is
// only unreachable (not misconfigured: bad credentials or a missing bucket
// stay fatal) does not stop the others unless mode is strict: lenient (the
// agent) keeps it with a warning, and it starts degraded, its shipper
// reconciling until it answers; skipDown (readers) leaves it out with a
// warning. At least one store must pass its check.
//
// The checks run at once, each bounded by storeurl.CheckTimeout. In lenient
// mode start-up waits for a store's check at most checkGrace (then for the
// first store that passes): a store that hangs never holds up the others.
// Every store is wrapped in the deadline decorator, so no later call to it
// can hang either.
func openStoresMode(ctx context.Context, urls []string, cfg *config.Config, mode openMode) ([]agent.Store, []string, error) {
	return openStoresWith(ctx, urls, cfg, mode, mode == skipDown)
}

// openStoresWith is openStoresMode; existing says file stores must exist
// (readers, and commands that change a backup).
func openStoresWith(ctx context.Context, urls []string, cfg *config.Config, mode openMode, existing bool) ([]agent.Store, []string, error) {
	type named struct {
		name, url string
		limits    config.Limits
		spec      storeurl.Spec
		lim       *throttle.Limiter
		st        backends.Store
		checked   chan error // the check's result, buffered
	}
	var list []*named
	if cfg != nil {
		for _, s := range cfg.Stores {
			list = append(list, &named{name: s.Name, url: s.URL, limits: s.Limits})
		}
	}
	for _, u := range urls {
		list = append(list, &named{url: u})
	}
	if len(list) == 0 {
		return nil, nil, usageError("no store given: pass a STORE_URL or --config with stores")
	}
	var built []agent.Store
	fail := func(err error) ([]agent.Store, []string, error) {
		closeStores(built)
		return nil, nil, err
	}
	for _, n := range list {
		spec, err := storeurl.Parse(n.url)
		if err != nil {
			return fail(usageError("%v", err))
		}
		spec.MustExist = existing
		n.spec = spec
		if n.lim, err = throttle.New(limitsConfig(n.limits)); err != nil {
			return fail(usageError("store %s limits: %v", cmp.Or(n.name, spec.Redacted), err))
		}
		bctx, cancel := context.WithTimeout(ctx, storeurl.CheckTimeout)
		st, err := storeurl.Build(bctx, spec)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("open store %s: %w", spec.Redacted, err))
		}
		n.st = deadline.New(st, deadlineOptions(cfg))
		built = append(built, agent.Store{Store: n.st})
	}
	for _, n := range list {
		n.checked = make(chan error, 1)
		go func() { n.checked <- storeurl.Check(ctx, n.st) }()
	}
	tolerant := mode != strict && len(list) > 1
	wait := mode == lenient && len(list) > 1
	gctx, stop := context.WithTimeout(ctx, checkGrace)
	defer stop()
	results := make([]error, len(list))
	got := make([]bool, len(list))
	healthy := 0
	for i, n := range list {
		if !wait {
			results[i], got[i] = <-n.checked, true
		} else {
			select {
			case results[i] = <-n.checked:
				got[i] = true
			case <-gctx.Done():
			}
		}
		if got[i] && results[i] == nil {
			healthy++
		}
	}
	var out []agent.Store
	var warnings, down []string // down: why each store is out, for when none is in
	var skipped []backends.Store
	for i, n := range list {
		if !got[i] && healthy == 0 {
			// Nothing has passed yet: wait for this one too.
			results[i], got[i] = <-n.checked, true
			if results[i] == nil {
				healthy++
			}
		}
		switch cerr := results[i]; {
		case !got[i]:
			down = append(down, fmt.Sprintf("store %s has not answered within %s", n.spec.Redacted, checkGrace))
			warnings = append(warnings, down[len(down)-1]+"; starting without waiting for it, it is reconciled when it answers")
		case cerr == nil:
		case !tolerant || backends.IsPermanent(cerr):
			return fail(fmt.Errorf("open store %s: %w", n.spec.Redacted, cerr))
		case mode == skipDown:
			down = append(down, fmt.Sprintf("store %s is unreachable (%v)", n.spec.Redacted, cerr))
			warnings = append(warnings, down[len(down)-1]) // readers say what they do about it
			skipped = append(skipped, n.st)
			continue
		default:
			down = append(down, fmt.Sprintf("store %s is unreachable (%v)", n.spec.Redacted, cerr))
			warnings = append(warnings, down[len(down)-1]+"; starting without it, it will be reconciled when it answers")
		}
		out = append(out, agent.Store{Name: cmp.Or(n.name, n.st.String()), Store: n.st, Limiter: n.lim})
	}
	if healthy == 0 {
		return fail(fmt.Errorf("no store is reachable: %s", strings.Join(down, "; ")))
	}
	for _, st := range skipped {
		st.Close()
	}
	return out, warnings, nil
}

// deadlineOptions are the bounds of every store call: the config's
// timeouts, else the decorator's defaults.
func deadlineOptions(cfg *config.Config) deadline.Options {
	if cfg == nil {
		return deadline.Options{}
	}
	return deadline.Options{Op: time.Duration(cfg.Timeouts.Call), MinRate: int64(cfg.Timeouts.MinRate)}
}

// checkGrace is how long the agent's start waits for one store's check
// when there are others.
const checkGrace = time.Second

// throttled stacks the rate-limit decorator on every store: its own limiter
// and the global one, over the deadline decorator openStoresMode put right
// on each store: store -> deadline -> throttle. These two functions are
// where decorators are stacked.
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
// the preferred store first and falls back to the others. With several
// stores, one that does not answer is left out with a warning on stderr.
func readStores(ctx context.Context, url string, cfg *config.Config, prefer string) (backends.Store, []agent.Store, func(), error) {
	st, ss, warnings, closeAll, err := readStoresSkipped(ctx, url, cfg, prefer)
	for _, w := range warnings {
		warn("%s; reading from the other stores", w)
	}
	return st, ss, closeAll, err
}

// readStoresSkipped is readStores returning the warnings for the stores it
// left out instead of printing them.
func readStoresSkipped(ctx context.Context, url string, cfg *config.Config, prefer string) (backends.Store, []agent.Store, []string, func(), error) {
	var urls []string
	if url != "" {
		urls = []string{url}
	}
	ss, warnings, err := openStoresMode(ctx, urls, cfg, skipDown)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if prefer != "" {
		i := slices.IndexFunc(ss, func(s agent.Store) bool { return s.Name == prefer })
		inConfig := cfg != nil && slices.ContainsFunc(cfg.Stores, func(s config.Store) bool { return s.Name == prefer })
		if i < 0 && inConfig {
			warn("--prefer %s: that store is unreachable; reading from the others", prefer)
		} else if i < 0 {
			closeStores(ss)
			return nil, nil, nil, nil, usageError("--prefer %q: no store of that name in the config", prefer)
		}
		if i >= 0 {
			ss = append([]agent.Store{ss[i]}, slices.Delete(slices.Clone(ss), i, i+1)...)
		}
	}
	closeAll := func() { closeStores(ss) }
	// Reads honour the configured download and request limits.
	global := (*throttle.Limiter)(nil)
	if cfg != nil {
		if global, err = throttle.New(limitsConfig(cfg.Limits)); err != nil {
			closeAll()
			return nil, nil, nil, nil, usageError("limits: %v", err)
		}
	}
	ss = throttled(ss, global)
	if len(ss) == 1 {
		return ss[0].Store, ss, warnings, closeAll, nil
	}
	var ms []multi.Member
	for _, s := range ss {
		ms = append(ms, multi.Member{Name: s.Name, Store: s.Store})
	}
	return multi.New(ms...), ss, warnings, closeAll, nil
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
