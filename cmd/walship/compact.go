package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/compact"
	"github.com/walship/walship/config"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// compactOptions are the config's compaction: settings (defaults where
// unset).
func compactOptions(c config.Compaction, codec segments.Codec) compact.Options {
	o := compact.Options{Codec: codec, Delay: time.Duration(c.Delay), Grace: time.Duration(c.Grace), MaxBytes: int64(c.MaxBytes)}
	for _, l := range c.Levels {
		o.Levels = append(o.Levels, time.Duration(l))
	}
	return o
}

// agentCompaction is what replicate gives the agent: off when the config
// says so, else every interval (default 1m), with the identities of
// compaction.identity_file when it names one.
func agentCompaction(cfg *config.Config, codec segments.Codec) (agent.CompactionOptions, error) {
	if !cfg.Compaction.On() {
		return agent.CompactionOptions{}, nil
	}
	every := time.Duration(cfg.Compaction.Interval)
	if every == 0 {
		every = time.Minute
	}
	o := agent.CompactionOptions{Options: compactOptions(cfg.Compaction, codec), Interval: every}
	if path := cfg.Compaction.IdentityFile; path != "" {
		ids, err := crypt.ReadIdentityFile(path)
		if err != nil {
			return o, usageError("compaction.identity_file: %v", err)
		}
		o.Identities = ids
	}
	return o, nil
}

func cmdCompact(args []string, stdout io.Writer) error {
	fs := newFlagSet("compact", "compact STORE_URL [--dry-run] [--grace D] [--json] [--identity FILE --encrypt-to FILE] | compact --config FILE [--store NAME] [--dry-run] [--identity FILE]")
	cfgPath := fs.String("config", "", "YAML config `file`: compact each of its stores by its compaction: section")
	dryRun := fs.Bool("dry-run", false, "report what a pass would merge and delete; read and change nothing")
	grace := fs.Duration("grace", compact.DefaultGrace, "delete merged segments only once the segment that holds them is this old (0: at once)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	only := fs.String("store", "", "with --config: compact only the store of this `name`")
	encryptTo := fs.String("encrypt-to", "", "age recipients `file` (age1... lines) to seal merged segments to, as the store's segments are; with --identity, encrypted segments are merged too (with --config, each store's encryption is used)")
	idFlags := addIdentityFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	ids, err := idFlags.load()
	if err != nil {
		return err
	}
	if *grace < 0 {
		return usageError("--grace %v: want 0 or more", *grace)
	}
	tg, err := openTargets(pos, *cfgPath, *only)
	if err != nil {
		return err
	}
	defer tg.stop()
	cfg := tg.cfg
	if err := sealMerged(tg, cfg, *encryptTo); err != nil {
		return err
	}
	o := compact.Options{Codec: segments.CodecZstd}
	if cfg != nil {
		codec := segments.CodecZstd
		if cfg.Compression == "none" {
			codec = segments.CodecNone
		}
		o = compactOptions(cfg.Compaction, codec)
	}
	o.DryRun = *dryRun
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["grace"] {
		if o.Grace = *grace; o.Grace == 0 {
			o.Grace = -1 // at once
		}
	}
	o.Identities = ids
	if err := o.Validate(); err != nil {
		return usageError("%v", err)
	}
	for _, s := range tg.stores {
		so := o
		so.Recipients = s.Recipients
		if err := so.Validate(); err != nil {
			return usageError("store %s: %v", s.Name, err)
		}
	}

	results := map[string]compact.Result{}
	out := stdout
	if *asJSON {
		out = logOutput // stdout holds the JSON alone
	}
	err = tg.each("compaction", out, func(s agent.Store) error {
		start := time.Now()
		so := o
		so.Recipients = s.Recipients // merged segments sealed like the store's
		res, err := compact.Pass(tg.ctx, s.Store, so, nil)
		results[s.Name] = res
		if !*asJSON {
			describeCompaction(stdout, res, o.DryRun, time.Since(start))
		}
		if err == nil {
			slog.Info("compaction done", "store", s.Name, "dry_run", o.DryRun, "merged", res.Merged, "deleted", res.Deleted,
				"bytes", res.BytesRead, "elapsed", time.Since(start))
		}
		return err
	})
	if *asJSON {
		if jerr := printJSON(stdout, results); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

// sealMerged gives each store the recipients its merged segments are
// sealed to: the config's encryption of the store, or --encrypt-to.
func sealMerged(tg *targets, cfg *config.Config, encryptTo string) error {
	if cfg != nil {
		if encryptTo != "" {
			return usageError("--encrypt-to: with --config the config's encryption names the recipients")
		}
		resolveRecipients(tg.stores, cfg)
		return nil
	}
	if encryptTo == "" {
		return nil
	}
	rs, err := crypt.ReadRecipientsFile(encryptTo)
	if err != nil {
		return usageError("--encrypt-to: %v", err)
	}
	for i := range tg.stores {
		tg.stores[i].Recipients = rs
	}
	return nil
}

func describeCompaction(w io.Writer, res compact.Result, dry bool, took time.Duration) {
	verb := "merged"
	if dry {
		verb = "would merge"
	}
	fmt.Fprintf(w, "%s %d segment(s) into %d; deleted %d segment(s) held by larger ones, %d wait for their grace period; read %d bytes, stored %d, in %v\n",
		verb, res.Merged, res.Outputs, res.Deleted, res.Waiting, res.BytesRead, res.BytesStore, took.Round(time.Millisecond))
	for _, c := range res.Conflicts {
		fmt.Fprintf(w, "CONFLICT %s: kept (see walship verify)\n", c)
	}
	if dry {
		fmt.Fprintln(w, "dry run: nothing read, stored or deleted")
	}
}
