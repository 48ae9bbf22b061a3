package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every command takes --log-format and --log-level; a bad value is a usage
// error (exit 2) naming the flag.
func TestLogFlagsBadValues(t *testing.T) {
	for _, cmd := range []string{"replicate", "restore", "list", "verify", "demo", "status", "copy", "prune", "compact", "mark", "snapshot"} {
		for _, args := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}, {"--log-level", "info+2"}} {
			code, _, stderr := walship(t, append([]string{cmd}, args...)...)
			if code != 2 || !strings.Contains(stderr, args[0]) {
				t.Fatalf("%s %v: exit %d, %s", cmd, args, code, stderr)
			}
		}
	}
}

// jsonLines parses every line of s as a JSON object.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q (%v)\nin:\n%s", l, err, s)
		}
		out = append(out, m)
	}
	return out
}

// find returns the first record whose msg is msg, failing unless it has
// every field named.
func find(t *testing.T, recs []map[string]any, msg string, fields ...string) map[string]any {
	t.Helper()
	for _, r := range recs {
		if r["msg"] != msg {
			continue
		}
		for _, f := range fields {
			if _, ok := r[f]; !ok {
				t.Fatalf("record %q lacks field %q: %v", msg, f, r)
			}
		}
		return r
	}
	t.Fatalf("no record %q in %v", msg, recs)
	return nil
}

// With --log-format json every line on stderr is a JSON record; the
// command's events carry the fields the agent's do (store, bytes, ...);
// --log-level warn keeps info records out.
func TestLogJSON(t *testing.T) {
	storeDir, want := replicateSome(t, 800)
	buf := captureLogs(t)
	code, stdout, _ := walship(t, "verify", storeDir, "--log-format", "json")
	if code != 0 || !strings.Contains(stdout, "OK: no damage") {
		t.Fatalf("verify: %d %s", code, stdout)
	}
	r := find(t, jsonLines(t, buf.String()), "verify done", "time", "level", "store", "objects", "bytes", "segments", "entries", "damaged", "elapsed")
	if r["level"] != "INFO" || r["ok"] != true || r["entries"] != float64(len(want)) {
		t.Fatalf("verify done: %v", r)
	}

	buf = captureLogs(t)
	out := filepath.Join(t.TempDir(), "r")
	if code, _, stderr := walship(t, "restore", storeDir, out, "--log-format", "json", "--quiet"); code != 0 {
		t.Fatalf("restore: %s", stderr)
	}
	find(t, jsonLines(t, buf.String()), "restore done", "store", "timeline", "from", "to", "entries", "segments", "bytes", "elapsed")

	buf = captureLogs(t)
	if code, _, _ := walship(t, "verify", storeDir, "--log-format", "json", "--log-level", "warn"); code != 0 || buf.String() != "" {
		t.Fatalf("--log-level warn: exit %d, logged:\n%s", code, buf.String())
	}
}

// A command that fails under --log-format json says why in one JSON record
// on stderr, with its exit status; without, in one plain line.
func TestLogJSONFailure(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-store")
	code, _, stderr := walship(t, "verify", missing, "--log-format", "json")
	r := find(t, jsonLines(t, stderr), "command failed", "level", "command", "err", "exit")
	if code != 1 || r["level"] != "ERROR" || r["command"] != "verify" || r["exit"] != float64(1) || !strings.Contains(r["err"].(string), "no-such-store") {
		t.Fatalf("exit %d, record %v", code, r)
	}
	code, _, stderr = walship(t, "verify", missing)
	if code != 1 || !strings.HasPrefix(stderr, "walship verify: ") || strings.Contains(stderr, "{") {
		t.Fatalf("plain failure: exit %d: %s", code, stderr)
	}
}

// replicate's own logs, the agent's and the stores' are JSON lines too;
// -v is --log-level debug.
func TestLogJSONReplicate(t *testing.T) {
	root := t.TempDir()
	walDir, storeDir := filepath.Join(root, "wal"), filepath.Join(root, "store")
	w := startWriter(t, walDir, 100*time.Microsecond)
	for w.Count() < 300 {
		time.Sleep(time.Millisecond)
	}
	n := len(w.Halt(t))
	cmd := exec.Command(walshipBin(t), "replicate", walDir, storeDir, "--seal-size", "8KiB", "--seal-interval", "20ms", "--log-format", "json", "-v")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for shipped(walDir+".walship") < uint64(n) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("replicate did not ship %d entries in 60s: %s", n, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("replicate: %v: %s", err, stderr.String())
	}
	recs := jsonLines(t, stderr.String())
	find(t, recs, "replicating", "source", "stores")
	find(t, recs, "stopped", "store", "timeline")
	if r := find(t, recs, "sealed segment", "timeline"); r["level"] != "DEBUG" {
		t.Fatalf("sealed segment at %v, want DEBUG (-v)", r["level"])
	}
}
