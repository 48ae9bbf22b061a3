package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/config"
	"github.com/walship/walship/wal"
)

// checkSource opens the source log read-only, as the agent's tailer does,
// and reports its format and bounds. It returns the source's absolute path
// ("" when there is none to judge the state dir against).
func checkSource(rep *checkReport, cfg *config.Config) string {
	if cfg.Source.WAL == "" {
		rep.fail("source", "readable log", "no source: give WAL_DIR or source.wal in the config")
		return ""
	}
	dir, err := filepath.Abs(cfg.Source.WAL)
	if err != nil {
		rep.fail("source", "readable log", fmt.Sprintf("source %s: %v", cfg.Source.WAL, err))
		return ""
	}
	found, err := readLog(dir, cfg.Source)
	rep.result("source", "readable log", err, found)
	return dir
}

// readLog opens dir as the config describes it and says what it found.
func readLog(dir string, src config.Source) (string, error) {
	f, err := wal.ParseFormat(src.Format)
	if err != nil {
		return "", fmt.Errorf("source.format: %w", err)
	}
	ts, err := wal.ParseTimeSource(src.Timestamp)
	if err != nil {
		return "", fmt.Errorf("source.timestamp: %w", err)
	}
	t, err := wal.Open(dir, wal.Options{Format: f, Time: ts, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", err
	}
	defer t.Close()
	first, last, err := t.Bounds()
	if err != nil {
		return "", fmt.Errorf("read WAL %s: %w", dir, err)
	}
	if last < first {
		return fmt.Sprintf("%s: a tidwall/wal log with no entry yet (the next is %d)", dir, first), nil
	}
	return fmt.Sprintf("%s: %s tidwall/wal log, entries %d..%d", dir, t.Format(), first, last), nil
}

// checkState checks the state dir replicate would use: outside the source,
// and writable (or, when it does not exist yet, creatable). It returns the
// dir's absolute path.
func checkState(rep *checkReport, cfg *config.Config, src string) string {
	dir := cfg.State
	if dir == "" && src != "" {
		dir = agent.DefaultStateDir(src)
	}
	if dir == "" {
		rep.skip("state", "writable", "no source, so no default state dir: give --state or state in the config")
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		rep.fail("state", "writable", fmt.Sprintf("state dir %s: %v", dir, err))
		return ""
	}
	if src != "" {
		if rel, err := filepath.Rel(src, abs); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			rep.fail("state", "outside the source", fmt.Sprintf("%s is inside the WAL dir %s: walship never writes into the source; use --state (or state:) elsewhere", abs, src))
			return abs
		}
		rep.ok("state", "outside the source", abs)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && !fi.IsDir():
		rep.fail("state", "writable", abs+" is not a directory")
	case err == nil:
		rep.result("state", "writable", probeWrite(abs), abs+" is writable")
	case errors.Is(err, fs.ErrNotExist):
		parent, perr := existingParent(abs)
		if perr == nil {
			perr = probeWrite(parent)
		}
		rep.result("state", "writable", perr, fmt.Sprintf("%s does not exist yet: replicate creates it (%s is writable)", abs, parent))
	default:
		rep.fail("state", "writable", err.Error())
	}
	return abs
}

// existingParent returns the nearest directory above dir that exists.
func existingParent(dir string) (string, error) {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return p, nil
		case err == nil:
			return "", fmt.Errorf("%s is not a directory, so %s cannot be created", p, dir)
		case !errors.Is(err, fs.ErrNotExist):
			return "", err
		case p == filepath.Dir(p):
			return "", fmt.Errorf("no directory above %s exists", dir)
		}
	}
}

// probeWrite creates and removes a temp file in dir.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".walship-check-*")
	if err != nil {
		return fmt.Errorf("write in %s: %w", dir, err)
	}
	name := f.Name()
	cerr := f.Close()
	if err := errors.Join(cerr, os.Remove(name)); err != nil {
		return fmt.Errorf("write in %s: %w", dir, err)
	}
	return nil
}
