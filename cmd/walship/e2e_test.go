package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/internal/testwal"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary walshipBin built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// walshipBin builds the walship command once per test run.
func walshipBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "walship-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "walship")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// walship runs the command and returns its exit code, stdout and stderr.
func walship(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// startWriter starts a steady writer that fsyncs every entry, as
// tidwall/wal does by default.
func startWriter(t *testing.T, dir string, every time.Duration) *testwal.Steady {
	t.Helper()
	return testwal.StartSteady(t, dir, testwal.SteadyOptions{Seed: 3, Every: every, MaxSize: 300, SegmentSize: 32 << 10, Sync: true})
}

// shipped is the agent's shipped index from its state dir.
func shipped(stateDir string) uint64 { return testwal.Shipped(stateDir) }

func compareRestored(t *testing.T, dir string, want [][]byte) {
	t.Helper()
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, AllowEmpty: true})
	if err != nil {
		t.Fatalf("open restored log: %v", err)
	}
	defer l.Close()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	if first != 1 || last != uint64(len(want)) {
		t.Fatalf("restored %d..%d, source has 1..%d", first, last, len(want))
	}
	for i := range want {
		got, err := l.Read(uint64(i + 1))
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Fatalf("restored entry %d differs from the source (%v)", i+1, err)
		}
	}
}

// kill -9 of the agent at random moments, 20 times, under a steady writer;
// after a final clean run the restore equals the source exactly.
func TestKill9(t *testing.T) {
	bin := walshipBin(t)
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	stateDir := filepath.Join(root, "state")
	storeDir := filepath.Join(root, "store")
	w := startWriter(t, walDir, 500*time.Microsecond)
	rng := rand.New(rand.NewPCG(5, 6))
	args := []string{"replicate", walDir, "file://" + storeDir, "--state", stateDir, "--seal-size", "16KiB", "--seal-interval", "30ms"}
	for i := 0; i < 20; i++ {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("run %d ended before the kill: %v\n%s", i, err, stderr.String())
		}
	}
	want := w.Halt(t)
	// A last run ships everything, then stops on SIGTERM.
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for shipped(stateDir) < uint64(len(want)) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("final run shipped %d of %d entries in 60s\n%s", shipped(stateDir), len(want), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s", err, stderr.String())
	}
	t.Logf("source has %d entries after 20 kills", len(want))
	out := filepath.Join(root, "restored")
	if code, stdout, stderr := walship(t, "restore", "file://"+storeDir, out); code != 0 {
		t.Fatalf("restore exit %d\n%s\n%s", code, stdout, stderr)
	}
	compareRestored(t, filepath.Join(out, "wal"), want)
	if code, stdout, _ := walship(t, "verify", storeDir); code != 0 {
		t.Fatalf("verify exit %d:\n%s", code, stdout)
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Fatalf("final run logged errors:\n%s", stderr.String())
	}
}

// replicateSome ships n entries to a new file store in-process and returns
// the store dir and the entries.
func replicateSome(t *testing.T, n int) (string, [][]byte) {
	t.Helper()
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	storeDir := filepath.Join(root, "store")
	w := startWriter(t, walDir, 100*time.Microsecond)
	for {
		if w.Count() >= n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	want := w.Halt(t)
	cmd := exec.Command(walshipBin(t), "replicate", walDir, storeDir, "--seal-size", "8KiB", "--seal-interval", "20ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for shipped(walDir+".walship") < uint64(len(want)) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("replicate did not ship %d entries in 60s: %s", len(want), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("replicate: %v: %s", err, stderr.String())
	}
	return storeDir, want
}

func TestCorruptSegment(t *testing.T) {
	storeDir, want := replicateSome(t, 2000)
	out := filepath.Join(t.TempDir(), "ok")
	if code, _, stderr := walship(t, "restore", storeDir, out); code != 0 {
		t.Fatalf("restore: %d %s", code, stderr)
	}
	compareRestored(t, filepath.Join(out, "wal"), want)
	// Flip one byte in the middle of one segment's payload.
	var segs []string
	filepath.Walk(filepath.Join(storeDir, "segments"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			segs = append(segs, p)
		}
		return nil
	})
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	victim := segs[len(segs)/2]
	b, _ := os.ReadFile(victim)
	b[len(b)/2+60] ^= 0x10
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(victim)
	code, stdout, _ := walship(t, "verify", storeDir)
	if code != 3 || !strings.Contains(stdout, name) {
		t.Fatalf("verify: exit %d, want 3 naming %s:\n%s", code, name, stdout)
	}
	out2 := filepath.Join(t.TempDir(), "bad")
	code, _, stderr := walship(t, "restore", storeDir, out2)
	if code != 1 || !strings.Contains(stderr, name) {
		t.Fatalf("restore of corrupt store: exit %d, want 1 naming %s:\n%s", code, name, stderr)
	}
	if _, err := os.Stat(filepath.Join(out2, "wal")); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s/wal behind", out2)
	}
}

func TestUsageAndBadInput(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"restore", "file:///x"}, 2, "OUT_DIR"},
		{[]string{"restore", "file:///x", "/tmp/o", "--index", "5", "--time", "2026-01-01T00:00:00Z"}, 2, "cannot be combined"},
		{[]string{"restore", "file:///x", "/tmp/o", "--time", "yesterday"}, 2, "RFC3339"},
		{[]string{"restore", "file:///x", "/tmp/o", "--bogus"}, 2, "bogus"},
		{[]string{"restore", "file:///x", "/tmp/o", "--download-limit", "fast"}, 2, "--download-limit"},
		{[]string{"replicate"}, 2, "WAL_DIR"},
		{[]string{"replicate", t.TempDir(), "file://" + t.TempDir()}, 1, "tidwall"},
		{[]string{"replicate", "/nonexistent/wal", "file://" + t.TempDir()}, 1, "/nonexistent/wal"},
		{[]string{"replicate", "--config", "/nonexistent.yml"}, 2, "nonexistent.yml"},
		{[]string{"list", "gopher://x/y"}, 2, "gopher"},
		{[]string{"list", "s3://Bad_Bucket/x"}, 2, "Bad_Bucket"},
		{[]string{"list", "s3://user:secret@bucket/x"}, 2, "environment"},
		{[]string{"restore", t.TempDir(), t.TempDir()}, 1, "no walship backup"},
	}
	for _, c := range cases {
		code, _, stderr := walship(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("walship %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}

func TestDemo(t *testing.T) {
	code, stdout, stderr := walship(t, "demo", "--entries", "600", "--rate", "3000")
	if code != 0 || !strings.Contains(stdout, "PASS") {
		t.Fatalf("demo: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
