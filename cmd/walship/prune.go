package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/retention"
)

func cmdPrune(args []string, stdout io.Writer) error {
	fs := newFlagSet("prune", "prune STORE_URL [--dry-run] [--snapshots N] [--window D] [--quiet] [--json] | prune --config FILE [--store NAME] [--dry-run]")
	cfgPath := fs.String("config", "", "YAML config `file`: prune each of its stores by its retention: section")
	dryRun := fs.Bool("dry-run", false, "print every object prune would delete and why; delete nothing")
	snaps := fs.Int("snapshots", 0, "keep the newest `N` base snapshots (0: all); overrides retention.snapshots")
	window := fs.String("window", "", "keep every point of the last `D` restorable (e.g. 72h or 7d; 0: forever); overrides retention.window")
	list := fs.Bool("list", false, "print every object deleted with its reason (a dry run always does)")
	only := fs.String("store", "", "with --config: prune only the store of this `name`")
	quiet := addQuietFlag(fs)
	asJSON := fs.Bool("json", false, "print what was deleted (in a dry run: what would be) as JSON on stdout, per store; the plan goes to stderr")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["snapshots"] && *snaps < 0 {
		return usageError("--snapshots %d: want 0 (keep all) or more", *snaps)
	}
	var win time.Duration
	if set["window"] {
		if win, err = parseWindow(*window); err != nil {
			return usageError("--window %q: %v", *window, err)
		}
	}
	tg, err := openTargets(pos, *cfgPath, *only)
	if err != nil {
		return err
	}
	defer tg.stop()
	var pol retention.Policy
	if tg.cfg != nil {
		pol = retention.Policy{Snapshots: tg.cfg.Retention.Snapshots, Window: time.Duration(tg.cfg.Retention.Window)}
	}
	if set["snapshots"] {
		pol.Snapshots = *snaps
	}
	if set["window"] {
		pol.Window = win
	}

	// Every store is pruned by what it holds itself, at the same moment.
	now := time.Now()
	human := stdout
	if *asJSON {
		human = logOutput // stdout holds the JSON alone
	}
	var sums []pruneSummary
	defer func() {
		for _, s := range sums {
			if s.plan != nil {
				s.plan.Release()
			}
		}
	}()
	err = tg.each("prune", human, func(s agent.Store) error {
		sum, err := pruneStore(tg.ctx, s, pol, now, pruneRun{dryRun: *dryRun, list: *list, quiet: *quiet}, human)
		if err != nil {
			sum.Error = err.Error()
		}
		sums = append(sums, sum)
		return err
	})
	if *asJSON {
		if jerr := writePruneJSON(stdout, sums); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

// pruneRun are the flags of one prune run.
type pruneRun struct{ dryRun, list, quiet bool }

// pruneStore plans and (unless a dry run) executes a prune of s, and
// says what it did (or would do).
func pruneStore(ctx context.Context, s agent.Store, pol retention.Policy, now time.Time, o pruneRun, stdout io.Writer) (pruneSummary, error) {
	sum := pruneSummary{Store: s.Name, DryRun: o.dryRun, Deleted: map[retention.Kind]int{}, Notes: []string{}}
	plan, err := retention.Plan(ctx, s.Store, pol, now)
	if err != nil {
		return sum, err
	}
	if o.dryRun || o.list {
		plan.Describe(stdout)
		sum.plan = plan // its deletions are the --json list; the caller releases it
	} else {
		defer plan.Release()
		plan.DescribeSummary(stdout)
	}
	if o.dryRun {
		tot := plan.Totals()
		for k, t := range tot {
			if k != "" {
				sum.Deleted[k] = t.Objects
			}
		}
		sum.Objects, sum.Bytes, sum.Notes = tot[""].Objects, tot[""].Bytes, slices.Concat(sum.Notes, plan.Notes)
		fmt.Fprintln(stdout, "dry run: nothing deleted")
		return sum, nil
	}
	m := startMeter("prune", "objects", o.quiet, "store", s.Name)
	stats, err := retention.ExecuteWith(ctx, s.Store, plan, retention.ExecuteOptions{Progress: m})
	m.finish()
	sum.Deleted = map[retention.Kind]int{retention.KindManifest: stats.Manifests, retention.KindChunk: stats.Chunks,
		retention.KindSegment: stats.Segments, retention.KindTimeline: stats.Timelines, retention.KindMarker: stats.Markers}
	sum.Objects, sum.Bytes, sum.ChunksSpared, sum.ChunksDeferred = stats.Deleted(), stats.Bytes, stats.ChunksSpared, stats.ChunksDeferred
	sum.Notes, sum.ElapsedSeconds = slices.Concat(sum.Notes, plan.Notes, stats.Notes), seconds(stats.Elapsed)
	if err == nil {
		slog.Info("prune done", "store", s.Name, "deleted", stats.Deleted(), "bytes", stats.Bytes, "elapsed", stats.Elapsed)
	}
	for _, n := range stats.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	fmt.Fprintf(stdout, "deleted %d object(s), %d bytes: %d manifest(s), %d chunk(s), %d segment(s), %d timeline record(s), %d marker(s) in %v\n",
		stats.Deleted(), stats.Bytes, stats.Manifests, stats.Chunks, stats.Segments, stats.Timelines, stats.Markers, stats.Elapsed.Round(time.Millisecond))
	if stats.ChunksSpared+stats.ChunksDeferred > 0 {
		fmt.Fprintf(stdout, "kept %d chunk(s) a new snapshot refers to and %d held back by a snapshot upload in progress\n", stats.ChunksSpared, stats.ChunksDeferred)
	}
	if errors.Is(err, retention.ErrChanged) {
		return sum, fmt.Errorf("%w (nothing unsafe was deleted; run walship prune again)", err)
	}
	return sum, err
}

// parseWindow reads a Go duration ("72h", "90m") or a number of days
// ("7d"); "0" is forever.
func parseWindow(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 {
			return 0, errors.New("want a duration like 72h or 7d")
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	w, err := time.ParseDuration(s)
	if err != nil || w < 0 {
		return 0, errors.New("want a duration like 72h or 7d (0: forever)")
	}
	return w, nil
}
