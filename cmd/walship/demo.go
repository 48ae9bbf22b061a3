package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/walship/walship/internal/demo"
)

func cmdDemo(args []string, stdout io.Writer) error {
	fs := newFlagSet("demo", "demo [--entries N] [--rate N] [--keep DIR]")
	entries := fs.Int("entries", 3000, "entries the built-in database writes")
	rate := fs.Int("rate", 1500, "entries per second")
	dir := fs.String("dir", "", "work in this `dir` and keep it (default: a temp dir, removed)")
	verbose := fs.Bool("v", false, "show the agent's logs (also shown with --log-level)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("demo takes no arguments")
	}
	var log *slog.Logger
	if *verbose || flagSet(fs, "log-level") {
		log = slog.Default() // as --log-format and --log-level say
	}
	return demo.Run(context.Background(), demo.Options{Entries: *entries, Rate: *rate, Dir: *dir, Out: stdout, Logger: log})
}
