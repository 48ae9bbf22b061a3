package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/walship/walship/config"
)

// 'walship check' answers, before anything ships, whether replicate would
// work: the config parses, the source is a readable log, the state dir is
// writable and outside the source, and every store answers, keeps its
// promises (create-only writes, compare-and-swap), has a sane clock, and
// says what backup it already holds. It writes nothing but its probes: a
// temp file in the state dir (or its parent) and two objects under
// probe/ in each store, all removed again.
//
// One row per property (check_report.go); the local rows are in
// check_local.go, a store's in check_store.go.

// checkOptions bound the store checks.
type checkOptions struct {
	timeout time.Duration // each remote step
	maxSkew time.Duration // between the store's clock and ours
}

func cmdCheck(args []string, stdout io.Writer) error {
	fs := newFlagSet("check", "check WAL_DIR STORE_URL [STORE_URL...] | check --config FILE")
	cfgPath := fs.String("config", "", "YAML config `file` (instead of WAL_DIR and URLs)")
	stateDir := fs.String("state", "", "state `dir` replicate would use; default WAL_DIR.walship")
	timeout := fs.Duration("timeout", 10*time.Second, "how long each store step (open, put, get, list...) may take")
	maxSkew := fs.Duration("max-skew", 5*time.Minute, "the largest difference allowed between a store's clock and this host's")
	asJSON := fs.Bool("json", false, "print the rows as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *timeout <= 0 || *maxSkew <= 0 {
		return usageError("--timeout and --max-skew must be positive")
	}
	if *cfgPath == "" && len(pos) < 2 {
		return usageError("missing WAL_DIR and STORE_URL (or --config FILE)")
	}
	var rep checkReport
	cfg := &config.Config{}
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			rep.fail("config", "parses", err.Error())
			return rep.finish(stdout, *asJSON)
		}
		rep.ok("config", "parses", fmt.Sprintf("%s: %d store(s) configured", *cfgPath, len(cfg.Stores)))
	}
	var urls []string
	if len(pos) > 0 {
		cfg.Source.WAL, urls = pos[0], pos[1:]
	}
	if *stateDir != "" {
		cfg.State = *stateDir
	}
	src := checkSource(&rep, cfg)
	state := checkState(&rep, cfg, src)
	targets := storeTargets(cfg, urls)
	if len(targets) == 0 {
		rep.fail("stores", "configured", "no store: add stores to the config or pass STORE_URLs")
	}
	checkCompaction(&rep, cfg, targets)
	opt := checkOptions{timeout: *timeout, maxSkew: *maxSkew}
	rep.add(checkStores(context.Background(), targets, cfg, opt, agentIdentity(src, state))...)
	return rep.finish(stdout, *asJSON)
}

// storeTarget is one store to check: its config name (or none) and URL.
type storeTarget struct{ name, url string }

func storeTargets(cfg *config.Config, urls []string) []storeTarget {
	var out []storeTarget
	for _, s := range cfg.Stores {
		out = append(out, storeTarget{name: s.Name, url: s.URL})
	}
	for _, u := range urls {
		out = append(out, storeTarget{url: u})
	}
	return out
}

// checkStores checks every store at once (a store that hangs holds up no
// other) and returns their rows in the stores' order.
func checkStores(ctx context.Context, targets []storeTarget, cfg *config.Config, opt checkOptions, self agentID) []checkRow {
	rows := make([][]checkRow, len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Go(func() {
			var r checkReport
			checkStore(ctx, &r, tg, cfg, opt, self)
			rows[i] = r.rows
		})
	}
	wg.Wait()
	var out []checkRow
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// storeLabel names a store in rows: its config name, else its URL without
// credentials.
func storeLabel(tg storeTarget, redacted string) string {
	return cmp.Or(tg.name, redacted)
}
