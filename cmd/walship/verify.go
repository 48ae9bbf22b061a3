package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/walship/walship/pitr"
)

func cmdVerify(args []string, stdout io.Writer) error {
	fs := newFlagSet("verify", "verify STORE_URL [--since D|RFC3339] [--identity FILE] [--json] [--quiet]")
	cfgPath := fs.String("config", "", "YAML config `file`: verify each of its stores")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := addQuietFlag(fs)
	sinceFlag := fs.String("since", "", "read in full only what holds entries (or bases) from this `time` on: RFC3339, or a duration back from now like 24h; older objects are listed, not read")
	idFlags := addIdentityFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	// With an identity, encrypted segments are opened and checked entry by
	// entry; without one, as stored (header, size, ciphertext SHA-256).
	ids, err := idFlags.load()
	if err != nil {
		return err
	}
	since, err := parseSince(*sinceFlag, time.Now())
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var url string
	switch {
	case len(pos) == 1:
		url = pos[0]
	case len(pos) == 0 && cfg != nil:
	default:
		return usageError("want one STORE_URL (or --config FILE)")
	}
	ctx := context.Background()
	_, stores, skipped, closeStores, err := readStoresSkipped(ctx, url, cfg, "")
	if err != nil {
		return err
	}
	defer closeStores()
	type storeReport struct {
		Store  string       `json:"store"`
		Report *pitr.Report `json:"report,omitempty"`
		Error  string       `json:"error,omitempty"` // the store could not be verified
	}
	var reports []storeReport
	damaged := 0
	var failed []error // stores that could not be verified (they do not answer)
	for _, w := range skipped {
		slog.Error("verify failed", "err", w)
		failed = append(failed, errors.New(w))
		reports = append(reports, storeReport{Error: w})
		if !*asJSON {
			fmt.Fprintf(stdout, "NOT VERIFIED: %s\n", w)
		}
	}
	for _, s := range stores {
		op := "verify"
		if len(stores) > 1 {
			op += " " + s.Name
		}
		start := time.Now()
		m := startMeter(op, "segments and chunks", *quiet, "store", s.Name)
		rep, err := pitr.VerifyWith(ctx, s.Store, pitr.VerifyOptions{Progress: m, Since: since, Identities: ids})
		m.finish()
		if err != nil {
			if len(stores) == 1 {
				return fmt.Errorf("verify %s: %w", s.Name, err)
			}
			slog.Error("verify failed", "store", s.Name, "err", err)
			failed = append(failed, fmt.Errorf("store %s: %w", s.Name, err))
			reports = append(reports, storeReport{Store: s.Name, Error: err.Error()})
			if !*asJSON {
				fmt.Fprintf(stdout, "store %s\n  NOT VERIFIED: %v\n", s.Name, err)
			}
			continue
		}
		reports = append(reports, storeReport{Store: s.Name, Report: rep})
		slog.Info("verify done", "store", s.Name, "ok", rep.OK(), "objects", rep.Objects, "bytes", rep.Bytes, "segments", rep.Segments,
			"entries", rep.Entries, "damaged", len(rep.Damaged), "gaps", len(rep.Gaps), "conflicts", len(rep.Conflicts), "elapsed", time.Since(start))
		if !rep.OK() {
			damaged++
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "store %s\n", s.Name)
			rep.Describe(stdout)
		}
	}
	if *asJSON {
		if err := printJSON(stdout, reports); err != nil {
			return err
		}
	}
	if damaged > 0 {
		return exitCode{3, fmt.Errorf("damage found in %d of %d stores (see above)", damaged, len(stores))}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d stores could not be verified: %w", len(failed), len(stores)+len(skipped), errors.Join(failed...))
	}
	return nil
}

// parseSince reads --since: RFC3339, or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError("--since %q: want RFC3339 (2026-11-21T10:31:00Z) or a duration back from now (24h)", s)
}
