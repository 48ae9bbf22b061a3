package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/config"
	"github.com/walship/walship/retention"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/throttle"
	"github.com/walship/walship/wal"
)

func cmdReplicate(args []string, stdout io.Writer) error {
	fs := newFlagSet("replicate", "replicate WAL_DIR STORE_URL [STORE_URL...] | --config FILE")
	cfgPath := fs.String("config", "", "YAML config `file` (instead of WAL_DIR and URLs)")
	stateDir := fs.String("state", "", "state `dir` (cursors, spool); default WAL_DIR.walship")
	format := fs.String("format", "", "source log format: auto, binary or json (default auto)")
	stamp := fs.String("timestamp", "", "entry time: observed, json:FIELD or be64:OFFSET (default observed)")
	dataDir := fs.String("data", "", "the database's data `dir`, hard-linked for base snapshots (source.data)")
	sealSize := fs.String("seal-size", "", "seal a segment at this raw size (default 16MiB)")
	sealEvery := fs.Duration("seal-interval", 0, "seal a segment when its first entry is this old (default 1s)")
	compression := fs.String("compression", "", "segment compression: zstd or none (default zstd)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long to keep uploading sealed segments")
	verbose := fs.Bool("v", false, "log every sealed segment (--log-level debug)")
	quiet := addQuietFlag(fs)
	takeover := fs.Bool("takeover", false, "take each store's lease (lease.json) even from another agent that holds it: only when that agent is gone")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics, /healthz, /status and /limits on this `host:port`")
	spoolMax := fs.String("spool-max", "", "spool bound (default 4GiB); past it a store that is down gets a recorded gap")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if cfg == nil {
		cfg = &config.Config{}
	}
	var urls []string
	if len(pos) > 0 {
		cfg.Source.WAL = pos[0]
		urls = pos[1:]
	}
	if cfg.Source.WAL == "" {
		return usageError("missing WAL_DIR (or source.wal in --config)")
	}
	if len(urls) == 0 && len(cfg.Stores) == 0 {
		return usageError("missing STORE_URL (or stores in --config)")
	}
	setStr(&cfg.State, *stateDir)
	setStr(&cfg.Source.Data, *dataDir)
	setStr(&cfg.Source.Format, *format)
	setStr(&cfg.Source.Timestamp, *stamp)
	setStr(&cfg.Compression, *compression)
	if *sealSize != "" {
		n, err := config.ParseSize(*sealSize)
		if err != nil {
			return usageError("--seal-size: %v", err)
		}
		cfg.Seal.Size = config.Size(n)
	}
	if *sealEvery > 0 {
		cfg.Seal.Interval = config.Duration(*sealEvery)
	}
	setStr(&cfg.Metrics.Addr, *metricsAddr)
	if *spoolMax != "" {
		n, err := config.ParseSize(*spoolMax)
		if err != nil {
			return usageError("--spool-max: %v", err)
		}
		cfg.Spool.MaxBytes = config.Size(n)
	}
	f, err := wal.ParseFormat(cfg.Source.Format)
	if err != nil {
		return usageError("%v", err)
	}
	ts, err := wal.ParseTimeSource(cfg.Source.Timestamp)
	if err != nil {
		return usageError("%v", err)
	}
	codec, err := segments.ParseCodec(cfg.Compression)
	if err != nil {
		return usageError("%v", err)
	}
	if *verbose && !flagSet(fs, "log-level") {
		logLevel.Set(slog.LevelDebug)
	}
	log := slog.Default() // parseArgs made it: what stores log on their own goes the same way
	if *takeover {
		log.Warn("--takeover: taking every store's lease from whichever agent holds it")
	}

	token, err := adminToken(cfg) // before any store is touched: a bad token file is a usage error
	if err != nil {
		return err
	}
	compaction, err := agentCompaction(cfg, codec) // the same for its identity file
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stores, warnings, err := openStoresLenient(ctx, urls, cfg, true)
	if err != nil {
		return err
	}
	defer closeStores(stores)
	for _, w := range warnings {
		log.Warn(w)
	}
	encryptStores(stores, cfg, log)
	global, err := throttle.New(limitsConfig(cfg.Limits))
	if err != nil {
		return usageError("limits: %v", err)
	}
	lims := newLimits(global, stores, log)
	if *cfgPath != "" {
		go reloadOnHUP(ctx, *cfgPath, lims, log)
	}
	a, err := agent.New(agent.Options{
		WALDir:              cfg.Source.WAL,
		StateDir:            cfg.State,
		Tail:                wal.Options{Format: f, Time: ts, Logger: log},
		SealSize:            int64(cfg.Seal.Size),
		SealInterval:        time.Duration(cfg.Seal.Interval),
		Codec:               codec,
		Stores:              throttled(stores, global),
		GlobalLimiter:       global,
		DrainTimeout:        *drain,
		Logger:              log,
		SpoolMaxBytes:       int64(cfg.Spool.MaxBytes),
		RetryAttempts:       cfg.Retry.Attempts,
		RetryMaxBackoff:     time.Duration(cfg.Retry.MaxBackoff),
		ReconcileMaxBackoff: time.Duration(cfg.Retry.ReconcileInterval),
		MetricsAddr:         cfg.Metrics.Addr,
		MaxLag:              time.Duration(cfg.Metrics.MaxLag),
		Admin:               lims.register,
		Lease:               agent.LeaseOptions{Takeover: *takeover},
		Snapshot: agent.SnapshotOptions{
			Command:       cfg.Snapshot.Command,
			Release:       cfg.Snapshot.Release,
			DataDir:       snapshotDataDir(cfg),
			Freeze:        cfg.Snapshot.Freeze,
			Thaw:          cfg.Snapshot.Thaw,
			Interval:      time.Duration(cfg.Snapshot.Interval),
			AfterWALBytes: int64(cfg.Snapshot.AfterWALBytes),
			ChunkSize:     int(cfg.Snapshot.ChunkSize),
		},
		Retention: agent.RetentionOptions{
			Policy:   retention.Policy{Snapshots: cfg.Retention.Snapshots, Window: time.Duration(cfg.Retention.Window)},
			Interval: time.Duration(cfg.Retention.Interval),
		},
		Compaction: compaction,
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.SetAdminToken(token); err != nil {
		return usageError("%v", err)
	}
	log.Info("replicating", "source", cfg.Source.WAL, "stores", len(stores))
	runCtx, stopCatchUp := context.WithCancel(ctx)
	var catching sync.WaitGroup
	if last, ok := sourceLast(cfg.Source.WAL, wal.Options{Format: f, Time: ts}); ok && !*quiet {
		t := time.NewTicker(lineEvery)
		catching.Go(func() {
			defer t.Stop()
			catchUp(runCtx, last, a.Status, t.C, time.Now)
		})
	}
	err = a.Run(ctx)
	stopCatchUp()
	catching.Wait()
	if err != nil {
		return err
	}
	st := a.Status()
	for _, s := range st.Stores {
		log.Info("stopped", "store", s.Name, "timeline", s.Timeline, "shipped_index", s.Shipped)
	}
	return nil
}

// reloadOnHUP re-reads the config on SIGHUP and applies its limits; other
// settings need a restart.
func reloadOnHUP(ctx context.Context, path string, lims *limits, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := config.Load(path)
		if err == nil {
			err = lims.fromConfig(cfg)
		}
		if err != nil {
			log.Error("config reload failed; limits unchanged", "config", path, "err", err)
		}
	}
}

// snapshotDataDir is source.data when walship hard-links it itself (no
// snapshot.command).
func snapshotDataDir(cfg *config.Config) string {
	if len(cfg.Snapshot.Command) > 0 {
		return ""
	}
	return cfg.Source.Data
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
