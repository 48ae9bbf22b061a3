package agent

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends/mem"
)

// withUmask runs the test body under umask m (process-wide: these tests
// are not parallel).
func withUmask(t *testing.T, m int) {
	old := syscall.Umask(m)
	t.Cleanup(func() { syscall.Umask(old) })
}

// checkOwnerOnly stats every file and directory under dir, dir included,
// and fails for any that group or others may read, write or enter.
func checkOwnerOnly(t *testing.T, dir string) (files, dirs int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			dirs++
			if fi.Mode().Perm() != stateDirPerm {
				t.Errorf("dir %s has mode %v, want %v", p, fi.Mode().Perm(), stateDirPerm)
			}
		case fi.Mode().IsRegular():
			files++
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("file %s has mode %v, want owner-only (0600)", p, fi.Mode().Perm())
			}
		default:
			t.Errorf("%s: unexpected %v in the state dir", p, fi.Mode().Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, dirs
}

// TestStateOwnerOnly runs the agent under umask 0 with a store that is
// down, so sealed segments stay in the spool, and checks every file and
// directory of the state dir.
func TestStateOwnerOnly(t *testing.T) {
	withUmask(t, 0)
	src := newSource(t, tidwal.Binary)
	src.write(100, "a")
	stateDir := filepath.Join(t.TempDir(), "state")
	down := &faulty{Store: mem.New()}
	r := startWith(t, src.dir, func(o *Options) { o.StateDir = stateDir }, down)
	r.waitShipped(t, 1, 100)
	down.down.Store(true)
	src.write(300, "b")
	waitFor(t, "segments sealed into the spool", func() bool {
		names, _ := r.a.spool.items()
		return len(names) >= 2
	})
	r.halt(t)
	files, dirs := checkOwnerOnly(t, stateDir)
	// LOCK, state.json and the spool items; the state dir and the spool.
	if files < 4 || dirs != 2 {
		t.Fatalf("checked %d files and %d dirs; want LOCK, state.json, >= 2 spool items and 2 dirs", files, dirs)
	}
}

// TestStateMadeOwnerOnly starts on a state dir an older walship left
// world-readable: the agent restricts it and says so in its log.
func TestStateMadeOwnerOnly(t *testing.T) {
	withUmask(t, 0)
	src := newSource(t, tidwal.Binary)
	src.write(300, "a")
	stateDir := filepath.Join(t.TempDir(), "state")
	st := mem.New()
	r := startWith(t, src.dir, func(o *Options) { o.StateDir = stateDir }, st)
	r.waitShipped(t, 1, 300)
	r.halt(t)
	// What an older walship left: everything world-readable, a spool item
	// not yet shipped.
	item := filepath.Join(stateDir, "spool", "00000001-00000000000000000301-00000000000000000301-00000000000000000001.wseg")
	if err := os.WriteFile(item, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stateDir, filepath.Join(stateDir, "spool")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(stateDir, "LOCK"), statePath(stateDir), item} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var logs bytes.Buffer
	a, err := New(Options{WALDir: src.dir, StateDir: stateDir, Stores: []Store{{Store: st}}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	os.Remove(item) // not a real segment; only its mode mattered
	checkOwnerOnly(t, stateDir)
	for _, p := range []string{stateDir, filepath.Join(stateDir, "LOCK"), statePath(stateDir), item} {
		if !strings.Contains(logs.String(), "path="+p+" ") {
			t.Errorf("no log line for %s; log:\n%s", p, logs.String())
		}
	}
}
