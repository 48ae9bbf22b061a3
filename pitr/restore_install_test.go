package pitr

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// Environment of the child process TestInstallKill9 starts.
const (
	envKillStore = "WALSHIP_TEST_KILL_STORE" // file store to restore from
	envKillOut   = "WALSHIP_TEST_KILL_OUT"   // OUT_DIR
	envKillReady = "WALSHIP_TEST_KILL_READY" // created when the child stops between the renames
)

// TestInstallKill9Child is the child of TestInstallKill9: a forced restore
// that stops for good between the data rename and the WAL rename. It does
// nothing in a normal run.
func TestInstallKill9Child(t *testing.T) {
	storeDir := os.Getenv(envKillStore)
	if storeDir == "" {
		t.Skip("a helper process: runs only as the child of TestInstallKill9")
	}
	st, err := file.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	installHook = func() {
		if err := os.WriteFile(os.Getenv(envKillReady), nil, 0o600); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Hour) // killed here
	}
	if _, _, err := Restore(context.Background(), st, Target{}, os.Getenv(envKillOut), Options{Force: true, SegmentSize: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	t.Fatal("the restore finished: the install hook did not stop it")
}

// TestInstallKill9 restores index 60 into OUT_DIR, then kills a forced
// restore of the latest entry with SIGKILL between its data and WAL
// renames. The output must say it is incomplete, a plain restore must
// refuse it, and a forced re-run must restore exactly (the log entry by
// entry, the data dir file by file) and leave nothing else behind.
func TestInstallKill9(t *testing.T) {
	ctx := context.Background()
	storeDir := t.TempDir()
	st, err := file.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, wal.FormatBinary, 91)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 160)
	old := putBase(t, st, 1, 40, 3)
	b := putBase(t, st, 1, 100, 4)
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := Restore(ctx, st, Target{Index: 60}, out, Options{SegmentSize: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	if m, err := CheckRestored(out); err != nil || m.To != 60 || m.Base != old.m.Key() {
		t.Fatalf("first restore: %+v %v", m, err)
	}

	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKillStore+"="+storeDir, envKillOut+"="+out, envKillReady+"="+ready)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the child exited before the install: %v\n%s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v", err)
	}

	// Half installed: the new data dir, no WAL dir, the marker says so.
	m, err := CheckRestored(out)
	if !errors.Is(err, ErrIncompleteRestore) || m.State != MarkerInstalling || m.Base != b.m.Key() {
		t.Fatalf("after kill -9: %+v %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(out, "wal")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the WAL dir is at its place before its rename: %v", err)
	}
	sameTree(t, filepath.Join(out, "data"), b.dir)
	if len(m.Temp) == 0 {
		t.Fatal("the marker names no temporary dirs")
	}
	for _, d := range m.Temp {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("temporary dir %s: %v", d, err)
		}
	}

	// Without --force: refused, loudly, and nothing changes.
	_, _, err = Restore(ctx, st, Target{}, out, Options{SegmentSize: 16 << 10})
	if !errors.Is(err, ErrIncompleteRestore) || !errors.Is(err, ErrOutDirNotEmpty) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("plain restore into the half-installed output: %v", err)
	}
	// With --force: exact.
	_, res, err := Restore(ctx, st, Target{}, out, Options{Force: true, SegmentSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.expect(1, f.latest(1))
	sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, 16<<10), want[100:])
	sameTree(t, res.DataDir, b.dir)
	if m, err := CheckRestored(out); err != nil || m.State != MarkerComplete || m.From != 101 || m.To != f.latest(1) || len(m.Temp) != 0 {
		t.Fatalf("after the re-run: %+v %v", m, err)
	}
	for _, d := range m.Temp {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary dir %s of the killed restore is still there: %v", d, err)
		}
	}
	names, _ := dirNames(out)
	if strings.Join(names, ",") != MarkerName+",data,wal" {
		t.Fatalf("%s holds %v", out, names)
	}
}

// TestForceRefusesForeign: --force replaces an earlier restore's output
// and nothing else, and says which file it will not delete.
func TestForceRefusesForeign(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, newMem(), wal.FormatBinary, 5)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 80)
	b := putBase(t, f.st, 1, 30, 8)
	write := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	intact := func(path string) {
		t.Helper()
		if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
			t.Fatalf("%s was touched: %q %v", path, b, err)
		}
	}
	for _, tc := range []struct {
		name    string
		layout  func(out, elsewhere string) (victim string, o Options)
		already bool // an earlier restore's output is there first
	}{
		{"unmarked wal dir", func(out, _ string) (string, Options) {
			return filepath.Join(out, "wal", "00000000000000000001"), Options{}
		}, false},
		{"unmarked data dir", func(out, _ string) (string, Options) {
			return filepath.Join(out, "data", "db.sqlite"), Options{}
		}, false},
		{"unmarked --wal-dir elsewhere", func(_, elsewhere string) (string, Options) {
			return filepath.Join(elsewhere, "notes.txt"), Options{WALDir: elsewhere}
		}, false},
		{"unmarked --data-dir elsewhere", func(_, elsewhere string) (string, Options) {
			return filepath.Join(elsewhere, "PG_VERSION"), Options{DataDir: elsewhere}
		}, false},
		{"foreign file in a restored wal dir", func(out, _ string) (string, Options) {
			return filepath.Join(out, "wal", "README"), Options{}
		}, true},
		{"foreign file in a restored data dir", func(out, _ string) (string, Options) {
			return filepath.Join(out, "data", "added-later"), Options{}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			elsewhere := filepath.Join(t.TempDir(), "dir")
			victim, o := tc.layout(out, elsewhere)
			o.SegmentSize = 16 << 10
			if tc.already {
				if _, _, err := Restore(ctx, f.st, Target{Index: 50}, out, o); err != nil {
					t.Fatal(err)
				}
			}
			write(victim)
			o.Force = true
			_, _, err := Restore(ctx, f.st, Target{}, out, o)
			if !errors.Is(err, ErrNotRestoreOutput) || !strings.Contains(err.Error(), filepath.Dir(victim)) ||
				!strings.Contains(err.Error(), filepath.Base(victim)) || !strings.Contains(err.Error(), "move it away") {
				t.Fatalf("forced restore over %s: %v", victim, err)
			}
			intact(victim)
		})
	}

	// An earlier restore's output, even one the database appended to, is
	// replaced; an empty existing dir needs no --force.
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := Restore(ctx, f.st, Target{Index: 50}, out, Options{}); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(out, "wal", "00000000000000000999"))
	_, res, err := Restore(ctx, f.st, Target{}, out, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.expect(1, 80)
	sameEntries(t, readLog(t, res.WALDir, wal.FormatBinary, DefaultSegmentSize), want[30:])
	sameTree(t, res.DataDir, b.dir)
	empty := filepath.Join(t.TempDir(), "empty")
	for _, d := range []string{"wal", "data"} {
		if err := os.MkdirAll(filepath.Join(empty, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Restore(ctx, f.st, Target{}, empty, Options{WALDir: filepath.Join(empty, "wal", "log")}); !errors.Is(err, ErrOutDirNotEmpty) {
		t.Fatalf("OUT_DIR with dirs in it, not forced: %v", err)
	}
	emptyWAL := filepath.Join(t.TempDir(), "w")
	if err := os.Mkdir(emptyWAL, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Restore(ctx, f.st, Target{}, filepath.Join(t.TempDir(), "o"), Options{WALDir: emptyWAL}); err != nil {
		t.Fatalf("an empty existing WAL dir: %v", err)
	}
}

// TestRestoredModes: the restored log, OUT_DIR and the marker are
// owner-only whatever the umask.
func TestRestoredModes(t *testing.T) {
	old := syscall.Umask(0) // process-wide: this test is not parallel
	defer syscall.Umask(old)
	f := newFixture(t, newMem(), wal.FormatJSON, 6)
	f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 120)
	out := filepath.Join(t.TempDir(), "a", "out")
	if _, _, err := Restore(context.Background(), f.st, Target{}, out, Options{SegmentSize: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(filepath.Dir(out), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 { // a/, out/, the marker, wal/ and its files
		t.Fatalf("checked %d paths", n)
	}
}

// markEarlierRestore writes the marker an earlier restore into out would
// have left, claiming out/wal and out/data (holding dataNames), so tests
// can stage an "earlier output" for --force by hand.
func markEarlierRestore(t *testing.T, out string, dataNames ...string) {
	t.Helper()
	abs, err := filepath.Abs(out)
	if err != nil {
		t.Fatal(err)
	}
	m := &Marker{WrittenBy: markerWrittenBy, Version: markerVersion, State: MarkerComplete,
		WALDir: filepath.Join(abs, "wal"), DataDir: filepath.Join(abs, "data"), DataNames: dataNames}
	if err := writeMarker(out, m); err != nil {
		t.Fatal(err)
	}
}
