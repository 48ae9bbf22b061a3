// Command walship is the CLI of the walship continuous backup agent. It
// parses flags and config and calls the packages; it holds no logic of its
// own. Exit status: 0 success, 2 usage error, 1 any other failure, 3 when
// verify finds damage.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

const usage = `walship: continuous backup of a tidwall/wal log to object stores

usage:
  walship replicate WAL_DIR STORE_URL [STORE_URL...] [--state DIR] [flags]
  walship replicate --config FILE
  walship restore STORE_URL OUT_DIR [--latest|--index N|--time RFC3339|--point NAME] [--timeline N] [--no-base] [--dry-run] [--force]
                  [--as binary|json]  # the restored log's format (default: the source's)
                  [--identity FILE]   # encrypted stores: age identity file (or WALSHIP_AGE_IDENTITY)
  walship list STORE_URL [segments|timelines|snapshots|points] [--json]
  walship mark STORE_URL NAME [--pin] [--index N|--time RFC3339]   # name a restore point
  walship mark STORE_URL --delete NAME
  walship verify STORE_URL [--identity FILE] [--json]
  walship prune STORE_URL [--dry-run] [--snapshots N] [--window D]   # or: prune --config FILE
  walship compact STORE_URL [--dry-run] [--grace D]   # merge small segments now; or: compact --config FILE
  walship status [--addr HOST:PORT | --config FILE]   # a running agent's progress, per store
  walship copy --config FILE --from NAME --to NAME   # backfill a store from another
  walship migrate STORE_URL --to 2 [--encrypt-to FILE | --plain] [--identity FILE] [--dry-run] [--limit-up RATE]
                  # rewrite every segment, timeline record and point for the current format and recipients;
                  # or: migrate --config FILE [--store NAME] --to 2 (each store's configured encryption)
  walship snapshot [--addr HOST:PORT | --config FILE] # ask the running agent for a base snapshot now
  walship check WAL_DIR STORE_URL [STORE_URL...] [--timeout D] [--max-skew D] [--json]   # or: check --config FILE
  walship version [--json]
  walship demo

Store URLs: file:///abs/path (or a plain path), s3://bucket/prefix?endpoint=...&region=...,
minio://host:port/bucket/prefix, azblob://container/prefix, gs://bucket/prefix. Credentials come from the
environment, never from the URL.

Run 'walship COMMAND --help' for a command's flags.
`

// exitCode carries a command's exit status through error returns.
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string { return e.err.Error() }
func (e exitCode) Unwrap() error { return e.err }

// usageError makes err exit with status 2.
func usageError(format string, args ...any) error {
	return exitCode{2, fmt.Errorf(format, args...)}
}

var commands = map[string]func(args []string, stdout io.Writer) error{
	"replicate": cmdReplicate,
	"restore":   cmdRestore,
	"list":      cmdList,
	"verify":    cmdVerify,
	"demo":      cmdDemo,
	"status":    cmdStatus,
	"copy":      cmdCopy,
	"prune":     cmdPrune,
	"compact":   cmdCompact,
	"migrate":   cmdMigrate,
	"mark":      cmdMark,
	"snapshot":  cmdSnapshot,
	"check":     cmdCheck,
	"version":   cmdVersion,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	logJSON = false // until the command's flags say otherwise
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "walship: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(args[1:], stdout)
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		if ec.err != nil && !errors.Is(ec.err, errHelp) {
			report(stderr, args[0], ec.err, ec.code)
		}
		if errors.Is(ec.err, errHelp) {
			return 0
		}
		return ec.code
	}
	report(stderr, args[0], err, 1)
	return 1
}

// report prints why a command failed: one line, or under --log-format json
// one JSON record (msg, command, err, exit).
func report(stderr io.Writer, command string, err error, code int) {
	if logJSON {
		slog.New(slog.NewJSONHandler(stderr, nil)).Error("command failed", "command", command, "err", err.Error(), "exit", code)
		return
	}
	fmt.Fprintf(stderr, "walship %s: %v\n", command, err)
}
