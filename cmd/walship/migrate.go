package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/config"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate"
	"github.com/walship/walship/throttle"
)

func cmdMigrate(args []string, stdout io.Writer) error {
	fs := newFlagSet("migrate", "migrate STORE_URL --to 2 [--encrypt-to FILE | --plain] [--identity FILE] [--dry-run] [--limit-up RATE] | migrate --config FILE [--store NAME | NAME] --to 2")
	cfgPath := fs.String("config", "", "YAML config `file`: migrate each of its stores (or the one --store names) to its configured encryption")
	only := fs.String("store", "", "with --config: migrate only the store of this `name`")
	to := fs.Int("to", 0, "segment `format` to write: 2 (required)")
	encryptTo := fs.String("encrypt-to", "", "recipients `file` (age1... lines): seal every object to these recipients")
	plain := fs.Bool("plain", false, "write plain objects (segment format 2 in the clear, plain records), decrypting encrypted ones")
	ids := addIdentityFlags(fs)
	dryRun := fs.Bool("dry-run", false, "print what would be rewritten (counts and bytes per kind); write nothing")
	limitUp := fs.String("limit-up", "", "upload bytes/s (e.g. 20MiB) for the rewritten objects (default: the store's configured limit)")
	parallel := fs.Int("parallel", 2, "segments rewritten at once")
	scratch := fs.String("scratch", "", "`dir` for segments being rewritten (default: a walship-migrate dir under the system temp dir)")
	quiet := addQuietFlag(fs)
	asJSON := fs.Bool("json", false, "print a summary as JSON on stdout when done")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *to != 2 {
		return usageError("--to %d: want --to 2 (the only format migrate writes)", *to)
	}
	if err := oneOf(fs, "encrypt-to", "plain"); err != nil {
		return err
	}
	if *encryptTo == "" && !*plain && *cfgPath == "" {
		return usageError("say what to migrate to: --encrypt-to FILE (recipients), --config FILE (each store's encryption) or --plain")
	}
	if *parallel < 1 {
		return usageError("--parallel %d: want 1 or more", *parallel)
	}
	if *cfgPath != "" && len(pos) == 1 && *only == "" {
		*only, pos = pos[0], nil // migrate --config FILE NAME
	}
	var rs []*crypt.Recipient
	if *encryptTo != "" {
		if rs, err = crypt.ReadRecipientsFile(*encryptTo); err != nil {
			return usageError("--encrypt-to: %v", err)
		}
	}
	identities, err := ids.load()
	if err != nil {
		return err
	}
	var up int64
	if *limitUp != "" {
		if up, err = config.ParseSize(*limitUp); err != nil || up <= 0 {
			return usageError("--limit-up %q: want a rate in bytes per second, e.g. 20MiB", *limitUp)
		}
	}
	dir, unlock, err := migrateScratch(*scratch)
	if err != nil {
		return err
	}
	defer unlock()
	tg, err := openTargets(pos, *cfgPath, *only)
	if err != nil {
		return err
	}
	defer tg.stop()
	if tg.cfg != nil && *encryptTo == "" && !*plain {
		encryptStores(tg.stores, tg.cfg, slog.Default())
	}
	start := time.Now()
	var results []*migrate.Result
	var problems int
	err = tg.each("migrate", stdout, func(s agent.Store) error {
		if *encryptTo != "" || *plain {
			s.Recipients = rs
		}
		st := s.Store
		if up > 0 {
			c := s.Limiter.Config()
			c.UploadBytesPerSec = up
			s.Limiter.Set(c)
		}
		if tg.cfg == nil {
			st = throttle.NewStore(st, s.Limiter, nil) // with --config openTargets stacked it
		}
		m := startMeter("migrate", "objects", *quiet || *dryRun, "store", s.Name)
		res, err := migrate.Run(tg.ctx, st, migrate.Options{Recipients: s.Recipients, Identities: identities, Decrypt: *plain,
			DryRun: *dryRun, Scratch: dir, Parallel: *parallel, Progress: m})
		m.finish()
		if res != nil {
			res.Store = s.Name
			results = append(results, res)
			problems += len(res.Problems)
			if !*asJSON {
				printMigrate(stdout, res)
			}
		}
		if err != nil {
			return migrateHint(err)
		}
		slog.Info("migrate done", "store", s.Name, "dry_run", res.DryRun, "segments", res.Segments.Rewrite, "timelines", res.Timelines.Rewrite,
			"points", res.Points.Rewrite, "bases", res.Bases.Rewrite, "chunks", res.Chunks.Written, "key_records", res.KeyRecords.Rewrite,
			"bytes", res.Segments.Bytes+res.Timelines.Bytes+res.Points.Bytes+res.Bases.Bytes+res.Chunks.Bytes, "problems", len(res.Problems), "elapsed", res.Elapsed)
		return nil
	})
	if *asJSON {
		if jerr := printJSON(stdout, migrateSummary{Stores: results, ElapsedSeconds: seconds(time.Since(start))}); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		return err
	}
	if problems > 0 {
		return fmt.Errorf("%d object(s) not migrated (see above); run walship migrate again after fixing what it says", problems)
	}
	return nil
}

// migrateSummary is migrate's --json document.
type migrateSummary struct {
	Stores         []*migrate.Result `json:"stores"`
	ElapsedSeconds float64           `json:"elapsed_seconds"`
}

// migrateHint adds to a plan's refusal what to pass.
func migrateHint(err error) error {
	if errors.Is(err, migrate.ErrWouldDecrypt) {
		return fmt.Errorf("%w (--encrypt-to FILE, or --plain)", err)
	}
	return identityHint(err)
}

func printMigrate(w io.Writer, r *migrate.Result) {
	verb := "rewrote"
	if r.DryRun {
		verb = "would rewrite"
	}
	target := "plain"
	if len(r.Recipients) > 0 {
		target = fmt.Sprintf("sealed to %v", r.Recipients)
	}
	fmt.Fprintf(w, "migrate %s to segment format %d, %s:\n", r.Store, r.Format, target)
	for _, k := range []struct {
		name string
		k    migrate.Kind
	}{{"segments", r.Segments}, {"timelines", r.Timelines}, {"points", r.Points}, {"bases", r.Bases}, {"chunks", r.Chunks}, {"keys", r.KeyRecords}} {
		fmt.Fprintf(w, "  %-9s %d listed, %d current, %s %d (%s)", k.name, k.k.Objects, k.k.Current, verb, k.k.Rewrite, sizeText(k.k.Bytes))
		if k.k.Encrypted > 0 {
			fmt.Fprintf(w, ", %d of them re-keyed", k.k.Encrypted)
		}
		if k.k.Written > 0 {
			fmt.Fprintf(w, ", %d new stored", k.k.Written)
		}
		if k.k.Finished > 0 {
			fmt.Fprintf(w, ", %d finished from an interrupted run", k.k.Finished)
		}
		if k.k.Deleted > 0 {
			fmt.Fprintf(w, ", %d old objects deleted", k.k.Deleted)
		}
		if k.k.Left > 0 {
			fmt.Fprintf(w, ", %d left as they are", k.k.Left)
		}
		fmt.Fprintln(w)
	}
	if !r.DryRun && r.Verified.Entries+r.Verified.Headers > 0 {
		fmt.Fprintf(w, "  checked   %d segments entry by entry, %d by bytes, header and SHA-256 (no identity for the target given)\n", r.Verified.Entries, r.Verified.Headers)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "NOT MIGRATED %s: %s\n", p.Key, p.Problem)
	}
}
