package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/config"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/throttle"
)

func cmdCopy(args []string, stdout io.Writer) error {
	fs := newFlagSet("copy", "copy --config FILE --from NAME --to NAME | copy FROM_URL TO_URL")
	cfgPath := fs.String("config", "", "YAML config `file` naming the stores")
	from := fs.String("from", "", "source store `name` (with --config)")
	to := fs.String("to", "", "destination store `name` (with --config)")
	limit := fs.String("limit", "", "upload bytes/s to the destination (default: the destination's configured limit)")
	parallel := fs.Int("parallel", 4, "objects copied at once")
	quiet := addQuietFlag(fs)
	asJSON := fs.Bool("json", false, "print a summary as JSON on stdout when done")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var urls []string
	switch {
	case cfg != nil && len(pos) == 0 && *from != "" && *to != "":
	case cfg == nil && len(pos) == 2:
		urls = pos
	default:
		return usageError("want --config FILE --from NAME --to NAME, or FROM_URL TO_URL")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	all, err := openStores(ctx, urls, cfg)
	if err != nil {
		return err
	}
	defer closeStores(all)
	var src, dst agent.Store
	if cfg != nil {
		for _, s := range all {
			switch s.Name {
			case *from:
				src = s
			case *to:
				dst = s
			}
		}
		if src.Store == nil || dst.Store == nil || *from == *to {
			return usageError("--from and --to must name two different stores of the config")
		}
	} else {
		src, dst = all[0], all[1]
	}
	if *limit != "" {
		n, err := config.ParseSize(*limit)
		if err != nil {
			return usageError("--limit: %v", err)
		}
		c := dst.Limiter.Config()
		c.UploadBytesPerSec = n
		dst.Limiter.Set(c)
	}
	var global *throttle.Limiter
	if cfg != nil {
		if global, err = throttle.New(limitsConfig(cfg.Limits)); err != nil {
			return usageError("limits: %v", err)
		}
	}
	ctx = throttle.WithPriority(ctx, throttle.Low) // a backfill is bulk traffic
	start := time.Now()
	m := startMeter("copy", "objects", *quiet, "from", src.Name, "to", dst.Name)
	st, err := pitr.CopyWith(ctx, src.Store, throttle.NewStore(dst.Store, dst.Limiter, global), pitr.CopyOptions{Parallel: *parallel, Progress: m})
	m.finish()
	if err != nil {
		return err
	}
	slog.Info("copy done", "from", src.Name, "to", dst.Name, "copied", st.Copied, "bytes", st.Bytes, "present", st.Present,
		"skipped", len(st.Skipped), "elapsed", time.Since(start))
	if *asJSON {
		if st.Skipped == nil {
			st.Skipped = []pitr.Damage{} // [] rather than null
		}
		if err := printJSON(stdout, copySummary{From: src.Name, To: dst.Name, CopyStats: st, ElapsedSeconds: seconds(time.Since(start))}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "copied %d objects (%d bytes) from %s to %s; %d were already there\n", st.Copied, st.Bytes, src.Name, dst.Name, st.Present)
		if st.Replaced > 0 {
			fmt.Fprintf(stdout, "%d segment(s) were compacted or migrated in %s while copying: what replaced them was copied in a second pass\n", st.Replaced, src.Name)
		}
		for _, d := range st.Skipped {
			fmt.Fprintf(stdout, "NOT COPIED %s: %s\n", d.Key, d.Problem)
		}
	}
	if len(st.Skipped) > 0 {
		return fmt.Errorf("%d objects not copied (see above)", len(st.Skipped))
	}
	return nil
}
