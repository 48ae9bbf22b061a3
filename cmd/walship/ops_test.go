package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// copy backfills a new store and repairs a damaged one; it is resumable
// and never copies damage.
func TestCopy(t *testing.T) {
	a, want := replicateSome(t, 1500)
	// The lease of an agent still running on a: not walship data, never copied.
	if err := os.WriteFile(filepath.Join(a, "lease.json"), []byte(`{"format":"walship-lease"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(t.TempDir(), "b")
	code, stdout, stderr := walship(t, "copy", a, b)
	if code != 0 || !strings.Contains(stdout, "copied") {
		t.Fatalf("copy: %d %s %s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(b, "lease.json")); err == nil {
		t.Fatal("copy carried the source's lease over")
	}
	out := filepath.Join(t.TempDir(), "r")
	if code, _, stderr := walship(t, "restore", b, out); code != 0 {
		t.Fatalf("restore from the copy: %s", stderr)
	}
	compareRestored(t, filepath.Join(out, "wal"), want)
	out2 := filepath.Join(t.TempDir(), "r2")
	if code, _, stderr := walship(t, "restore", b, out2, "--download-limit", "64MiB"); code != 0 {
		t.Fatalf("restore with a download limit: %s", stderr)
	}
	compareRestored(t, filepath.Join(out2, "wal"), want)
	code, stdout, _ = walship(t, "copy", a, b)
	if code != 0 || !strings.Contains(stdout, "copied 0 objects") {
		t.Fatalf("second copy should find everything there: %d %s", code, stdout)
	}
	// Repair: a segment lost in b comes back; a damaged one in a is not copied.
	segs, _ := filepath.Glob(filepath.Join(b, "segments", "*", "*.wseg"))
	lost, damaged := segs[1], segs[3]
	os.Remove(lost)
	os.Remove(damaged)
	src := filepath.Join(a, strings.TrimPrefix(damaged, b))
	buf, _ := os.ReadFile(src)
	buf[len(buf)-5] ^= 1
	os.WriteFile(src, buf, 0o644)
	code, stdout, _ = walship(t, "copy", a, b)
	if code != 1 || !strings.Contains(stdout, "copied 1 objects") || !strings.Contains(stdout, "NOT COPIED "+strings.TrimPrefix(damaged, b+"/")) {
		t.Fatalf("repair copy: exit %d\n%s", code, stdout)
	}
	if _, err := os.Stat(lost); err != nil {
		t.Fatalf("lost segment not restored by copy: %v", err)
	}
	if _, err := os.Stat(damaged); err == nil {
		t.Fatal("a damaged segment was copied")
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The running agent serves status, metrics, health and limits; limits change
// at run time through the admin endpoint and on SIGHUP.
func TestStatusAndLimits(t *testing.T) {
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	w := startWriter(t, walDir, time.Millisecond)
	defer w.Halt(t)
	addr := freeAddr(t)
	cfgPath := filepath.Join(root, "walship.yml")
	const token = "status-and-limits-test-token"
	tokenFile := filepath.Join(root, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeCfg := func(limit string) {
		cfg := fmt.Sprintf("source: {wal: %s}\nstate: %s\nseal: {size: 16KiB, interval: 50ms}\nstores:\n  - {name: local, url: \"file://%s\", limits: {upload_bytes_per_sec: %s}}\nmetrics: {addr: \"%s\", token_file: %q}\n",
			walDir, filepath.Join(root, "state"), filepath.Join(root, "store"), limit, addr, tokenFile)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("50MiB")
	cmd := exec.Command(walshipBin(t), "replicate", "--config", cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	getLimits := func() limitsDoc {
		var d limitsDoc
		resp, err := http.Get("http://" + addr + "/limits")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&d)
		return d
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, stdout, _ := walship(t, "status", "--config", cfgPath)
		if code == 0 && strings.Contains(stdout, "local") && !strings.Contains(stdout, "local  0  0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed progress: %s\n%s", stdout, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := getLimits().Stores["local"].UploadBytesPerSec; got != 50<<20 {
		t.Fatalf("configured limit %d", got)
	}
	admin := func(req *http.Request) *http.Request {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	req, _ := http.NewRequest("PUT", "http://"+addr+"/limits", strings.NewReader(`{"global":{"UploadBytesPerSec":1048576}}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("PUT /limits without the token: want 401, got %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("PUT", "http://"+addr+"/limits", strings.NewReader(`{"global":{"UploadBytesPerSec":1048576}}`))
	resp, err = http.DefaultClient.Do(admin(req))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /limits: %v %v", resp, err)
	}
	resp.Body.Close()
	if d := getLimits(); d.Global.UploadBytesPerSec != 1<<20 || d.Stores["local"].UploadBytesPerSec != 50<<20 {
		t.Fatalf("after PUT: %+v", d)
	}
	req, _ = http.NewRequest("PUT", "http://"+addr+"/limits", strings.NewReader(`{"stores":{"nope":{}}}`))
	resp, err = http.DefaultClient.Do(admin(req))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("PUT of an unknown store: %v %v", resp, err)
	}
	resp.Body.Close()
	writeCfg("7MiB")
	cmd.Process.Signal(syscall.SIGHUP)
	for getLimits().Stores["local"].UploadBytesPerSec != 7<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload limits: %+v\n%s", getLimits(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`walship_store_shipped_index{store="local"}`, `walship_store_lag_seconds{store="local"}`,
		`walship_throttle_wait_seconds_total{direction="upload",limiter="global",priority="high"}`, "walship_spool_bytes"} {
		if !strings.Contains(body.String(), m) {
			t.Fatalf("/metrics lacks %s", m)
		}
	}
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// An agent started while one of its stores is unreachable ships to the
// others; the unreachable one starts degraded. A single unreachable store
// is still a clear startup error.
func TestStartWithUnreachableStore(t *testing.T) {
	t.Setenv("MINIO_ACCESS_KEY", "walship")
	t.Setenv("MINIO_SECRET_KEY", "walship-secret")
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	w := startWriter(t, walDir, 200*time.Microsecond)
	time.Sleep(100 * time.Millisecond)
	want := w.Halt(t)
	dead := "minio://" + freeAddr(t) + "/bucket/db?tls=false"
	code, _, stderr := walship(t, "replicate", walDir, dead, "--state", filepath.Join(root, "s1"))
	if code != 1 || !strings.Contains(stderr, "cannot reach") || strings.Contains(stderr, "walship-secret") {
		t.Fatalf("single unreachable store: exit %d: %s", code, stderr)
	}
	store := filepath.Join(root, "store")
	cmd := exec.Command(walshipBin(t), "replicate", walDir, "file://"+store, dead, "--state", filepath.Join(root, "s2"), "--seal-interval", "20ms",
		"--drain-timeout", "2s") // the dead store never drains: do not wait the default 30 s for it
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _, _ := walship(t, "verify", store); code == 0 {
			out := filepath.Join(root, "out")
			if code, _, _ := walship(t, "restore", store, out); code == 0 {
				compareRestored(t, filepath.Join(out, "wal"), want)
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("nothing restorable from the reachable store:\n%s", errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if !strings.Contains(errb.String(), "unreachable") || strings.Contains(errb.String(), "walship-secret") {
		t.Fatalf("agent log:\n%s", errb.String())
	}
}
