package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// logOutput is where logs and progress go: stderr, never stdout (stdout is
// for a command's results). Tests swap it.
var logOutput io.Writer = os.Stderr

// logLevel is the level of the handler setupLogging installs; replicate's
// -v lowers it to debug.
var logLevel = new(slog.LevelVar)

// logJSON says whether setupLogging chose JSON lines: progress then logs
// records with fields instead of sentences.
var logJSON bool

// addLogFlags registers --log-format and --log-level. newFlagSet calls it,
// so every command has them; parseArgs applies them (setupLogging).
func addLogFlags(fs *flag.FlagSet) {
	fs.String("log-format", "text", "log line `format` on stderr: text or json")
	fs.String("log-level", "info", "least `level` logged: debug, info, warn or error")
}

// setupLogging builds the log handler the flags of fs ask for, on
// logOutput, and makes it slog's default, so what stores log on their own
// goes the same way. A bad value is a usage error.
func setupLogging(fs *flag.FlagSet) error {
	format, level := flagValue(fs, "log-format"), flagValue(fs, "log-level")
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil || strings.ContainsAny(level, "+-") {
		return usageError("--log-level %q: want debug, info, warn or error", level)
	}
	logLevel.Set(lv)
	opts := &slog.HandlerOptions{Level: logLevel}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(logOutput, opts)
	case "json":
		h = slog.NewJSONHandler(logOutput, opts)
	default:
		return usageError("--log-format %q: want text or json", format)
	}
	logJSON = format == "json"
	slog.SetDefault(slog.New(h))
	return nil
}

// flagValue is the value of the flag name of fs ("" if it has none).
func flagValue(fs *flag.FlagSet, name string) string {
	if f := fs.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// warn tells the operator something went around a problem: a line
// "walship: warning: ..." on stderr, or under --log-format json a warning
// record.
func warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if logJSON {
		slog.Warn(msg)
		return
	}
	fmt.Fprintln(logOutput, "walship: warning:", msg)
}
