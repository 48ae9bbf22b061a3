package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/config"
	"github.com/walship/walship/throttle"
)

// targets are the stores a maintenance command (prune, compact) works on:
// one STORE_URL, or every store of --config (only the one --store names,
// if set), throttled by the config's limits at low priority.
type targets struct {
	ctx    context.Context
	cfg    *config.Config // nil with a STORE_URL
	stores []agent.Store
	stop   func()
}

// openTargets checks the positional arguments against --config and
// --store, and opens the stores. The caller calls stop.
func openTargets(pos []string, cfgPath, only string) (*targets, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	var urls []string
	switch {
	case cfg != nil && len(pos) == 0:
	case cfg == nil && len(pos) == 1:
		urls = pos
	default:
		return nil, usageError("want one STORE_URL (or --config FILE), got %s", arguments(len(pos)))
	}
	if only != "" && cfg == nil {
		return nil, usageError("--store needs --config")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stores, err := openExisting(ctx, urls, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	tg := &targets{ctx: ctx, cfg: cfg, stores: stores, stop: func() { closeStores(stores); cancel() }}
	if only != "" {
		var picked []agent.Store
		for _, s := range stores {
			if s.Name == only {
				picked = append(picked, s)
			}
		}
		if len(picked) == 0 {
			tg.stop()
			return nil, usageError("--store %q: no store of that name in the config", only)
		}
		tg.stores = picked
	}
	if cfg != nil {
		global, err := throttle.New(limitsConfig(cfg.Limits))
		if err != nil {
			tg.stop()
			return nil, usageError("limits: %v", err)
		}
		tg.stores = throttled(tg.stores, global)
		tg.ctx = throttle.WithPriority(tg.ctx, throttle.Low)
	}
	return tg, nil
}

// each runs fn on every store in turn, headed by the store's name when
// there are several. With one store its error is the command's; with
// several, each failure is printed and the others go on.
func (tg *targets) each(cmd string, stdout io.Writer, fn func(s agent.Store) error) error {
	var failed []string
	for _, s := range tg.stores {
		if len(tg.stores) > 1 {
			fmt.Fprintf(stdout, "== store %s\n", s.Name)
		}
		if err := fn(s); err != nil {
			if tg.ctx.Err() != nil || len(tg.stores) == 1 {
				return err
			}
			fmt.Fprintf(stdout, "store %s: %v\n", s.Name, err)
			failed = append(failed, s.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s failed for %d of %d stores: %s (see above)", cmd, len(failed), len(tg.stores), strings.Join(failed, ", "))
	}
	return nil
}

// arguments is "1 argument" or "N arguments".
func arguments(n int) string {
	if n == 1 {
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", n)
}
