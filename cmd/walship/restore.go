package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/walship/walship/config"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

func cmdRestore(args []string, stdout io.Writer) error {
	fs := newFlagSet("restore", "restore STORE_URL OUT_DIR [--latest|--index N|--time RFC3339|--point NAME] [--timeline N] [--no-base] [--as binary|json] [--identity FILE] [--dry-run] [--quiet] [--json]")
	cfgPath := fs.String("config", "", "YAML config `file` whose stores to restore from (instead of STORE_URL)")
	latest := fs.Bool("latest", false, "restore everything shipped (the default)")
	index := fs.Uint64("index", 0, "restore entries up to and including this `index`")
	at := fs.String("time", "", "restore entries up to this `time` (RFC3339)")
	point := fs.String("point", "", "restore to the restore point of this `name` (walship mark)")
	noBase := fs.Bool("no-base", false, "never start from a base snapshot: replay the log from the history's start, write no data directory")
	dataDir := fs.String("data-dir", "", "where to write the base snapshot's files (default OUT_DIR/data)")
	timeline := fs.Uint("timeline", 0, "restore this timeline's history (default: the newest)")
	dryRun := fs.Bool("dry-run", false, "print the plan, write nothing")
	force := fs.Bool("force", false, "write into a non-empty OUT_DIR, replacing on success the WAL and data dirs of an earlier walship restore (never a dir holding anything else); also finishes an interrupted restore")
	walDir := fs.String("wal-dir", "", "where to write the restored log (default OUT_DIR/wal)")
	parallel := fs.Int("parallel", 4, "segments fetched at once")
	prefer := fs.String("prefer", "", "with --config: read from the store of this `name` first, then fall back to the others")
	downLimit := fs.String("download-limit", "", "cap download bytes/s from each store, e.g. 50MiB (default: limits in --config, else none)")
	quiet := addQuietFlag(fs)
	asJSON := fs.Bool("json", false, "print a summary as JSON on stdout when done (the plan and messages go to stderr)")
	as := fs.String("as", "", "write the restored log in this `format`, binary or json, whatever the source's (default: the source's)")
	idFlags := addIdentityFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := oneOf(fs, "latest", "index", "time", "point"); err != nil {
		return err
	}
	if err := oneOf(fs, "no-base", "data-dir"); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var url, out string
	switch {
	case cfg != nil && len(pos) == 1:
		out = pos[0]
	case cfg == nil && len(pos) == 2:
		url, out = pos[0], pos[1]
	default:
		return usageError("want STORE_URL OUT_DIR (or --config FILE OUT_DIR), got %s", arguments(len(pos)))
	}
	t := pitr.Target{Latest: *latest, Index: *index, Point: *point, Timeline: uint32(*timeline), NoBase: *noBase}
	if *at != "" {
		if t.Time, err = time.Parse(time.RFC3339Nano, *at); err != nil {
			return usageError("--time %q: want RFC3339, e.g. 2026-11-21T10:31:00Z", *at)
		}
	}
	if *parallel < 1 {
		return usageError("--parallel must be at least 1")
	}
	if *point != "" {
		if err := segments.ValidPointName(*point); err != nil {
			return usageError("--point: %v", err)
		}
	}
	format, err := parseAs(*as)
	if err != nil {
		return err
	}
	ids, err := idFlags.load()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *downLimit != "" {
		n, err := config.ParseSize(*downLimit)
		if err != nil {
			return usageError("--download-limit: %v", err)
		}
		if cfg == nil {
			cfg = &config.Config{}
		}
		cfg.Limits.DownloadBytesPerSec = config.Size(n)
	}
	st, _, closeStore, err := readStores(ctx, url, cfg, *prefer)
	if err != nil {
		return err
	}
	defer closeStore()
	plan, err := pitr.MakePlanWith(ctx, st, t, pitr.PlanOptions{Identities: ids})
	if err != nil {
		return identityHint(err)
	}
	// The estimate from a sample of the plan's own segments, fetched,
	// decoded and written on the log's filesystem (a few GETs; nothing is
	// written to OUT_DIR: sampleDir).
	// A sample that cannot be read leaves the guess: the restore meets the
	// same object and reports it in its own words (or reads another copy).
	if err := plan.Measure(ctx, st, pitr.MeasureOptions{Parallel: *parallel, Identities: ids, Format: format, Dir: sampleDir(out, *walDir)}); err != nil {
		if ctx.Err() != nil {
			return err
		}
		slog.Debug("restore speed not measured", "err", err)
	}
	human := stdout
	if *asJSON {
		human = logOutput // stdout holds the JSON alone
	}
	plan.Describe(human)
	if format != wal.FormatAuto && format != plan.Format {
		fmt.Fprintf(human, "  written as: tidwall/wal %s (--as %s; the entries are the same bytes)\n", format, format)
	}
	if *dryRun {
		if *asJSON {
			return printJSON(stdout, planSummary(plan))
		}
		return nil
	}
	unit := "segments"
	if plan.Base != nil {
		unit = "segments and chunks"
	}
	m := startMeter("restore", unit, *quiet, "store", plan.Store)
	res, err := pitr.Execute(ctx, st, plan, out, pitr.Options{WALDir: *walDir, DataDir: *dataDir, Force: *force, Parallel: *parallel, Progress: m, Identities: ids, Format: format})
	m.finish()
	if err != nil {
		return identityHint(err)
	}
	slog.Info("restore done", "store", plan.Store, "timeline", plan.Timeline, "from", res.From, "to", res.To, "entries", res.Entries,
		"segments", res.Segments, "bytes", res.Bytes, "base", res.Base, "elapsed", res.Elapsed)
	describeRestore(human, res, out)
	if *asJSON {
		return printJSON(stdout, resultSummary(plan, res))
	}
	return nil
}

// describeRestore writes what a restore did, for a person.
func describeRestore(w io.Writer, res pitr.Result, out string) {
	if res.Base != "" {
		fmt.Fprintf(w, "restored base snapshot %s (%d files, %d bytes) into %s\n", res.Base, res.BaseFiles, res.BaseBytes, res.DataDir)
	}
	if res.Entries == 0 {
		fmt.Fprintf(w, "the base holds every entry up to %d: the log in %s is empty and starts at %d (tidwall/wal opens it with AllowEmpty)\n", res.To, res.WALDir, res.From)
	} else {
		fmt.Fprintf(w, "restored entries %d..%d (%d entries, %d segments, %d bytes) into %s\n",
			res.From, res.To, res.Entries, res.Segments, res.Bytes, res.WALDir)
	}
	fmt.Fprintf(w, "marked complete in %s (restored files are owner-only; base files keep their snapshot modes)\n", filepath.Join(out, pitr.MarkerName))
	fmt.Fprintf(w, "done in %v\n", res.Elapsed.Round(time.Millisecond))
}

// parseAs reads --as: the format to write the restored log in;
// wal.FormatAuto (the source's) when not given.
func parseAs(s string) (wal.Format, error) {
	switch s {
	case "":
		return wal.FormatAuto, nil
	case "binary":
		return wal.FormatBinary, nil
	case "json":
		return wal.FormatJSON, nil
	}
	return 0, usageError("--as %q: want binary or json", s)
}
