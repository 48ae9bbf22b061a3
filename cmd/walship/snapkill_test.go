package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"
)

// kill -9 while base snapshots upload (slowed by a bulk rate limit), and
// while the forced snapshot after a gap runs: afterwards every restore still
// succeeds exactly, and the store verifies clean (orphan chunks of a killed
// upload are garbage, not damage).
func TestKill9DuringSnapshot(t *testing.T) {
	bin := walshipBin(t)
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	stateDir := filepath.Join(root, "state")
	storeDir := filepath.Join(root, "store")
	ckpt := filepath.Join(root, "ckpt")
	os.MkdirAll(ckpt, 0o755)
	for i := 0; i < 8; i++ { // 8 MiB of incompressible data: ~4 s at 2 MiB/s
		b := make([]byte, 1<<20)
		rand.Read(b)
		os.WriteFile(filepath.Join(ckpt, fmt.Sprintf("f%d", i)), b, 0o644)
	}
	l, err := tidwal.Open(walDir, &tidwal.Options{LogFormat: tidwal.Binary, SegmentSize: 32 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	write := func(n int) {
		for i := 0; i < n; i++ {
			d := []byte(fmt.Sprintf("entry %d", len(want)+1))
			if err := l.Write(uint64(len(want)+1), d); err != nil {
				t.Fatal(err)
			}
			want = append(want, d)
		}
	}
	write(500)
	latest := func(index int) {
		b, _ := json.Marshal(map[string]any{"dir": ckpt, "index": index})
		os.WriteFile(filepath.Join(root, "latest.json"), b, 0o644)
	}
	latest(500)
	cfg := filepath.Join(root, "walship.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`source: {wal: %s}
state: %s
seal: {size: 16KiB, interval: 30ms}
stores: [{name: local, url: "file://%s", limits: {bulk_upload_bytes_per_sec: 2MiB}}]
snapshot: {command: [cat, %s], interval: 1s, chunk_size: 256KiB}
`, walDir, stateDir, storeDir, filepath.Join(root, "latest.json"))), 0o644)
	rng := mrand.New(mrand.NewPCG(7, 8))
	run := func(d time.Duration) {
		cmd := exec.Command(bin, "replicate", "--config", cfg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(d)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err == nil {
			t.Fatalf("agent exited before the kill:\n%s", stderr.String())
		}
	}
	for i := 0; i < 4; i++ { // kills while a snapshot uploads
		run(time.Duration(1200+rng.IntN(2500)) * time.Millisecond)
		write(100)
	}
	// A gap: the database truncates what the agent never read, checkpoints,
	// and the agent is killed during the forced snapshot after the gap.
	write(400)
	l.TruncateFront(uint64(len(want) - 50))
	baseIndex := len(want) - 20
	latest(baseIndex)
	run(2500 * time.Millisecond)
	write(10)
	l.Close()

	// A last run that finishes one snapshot, then stops cleanly.
	cmd := exec.Command(bin, "replicate", "--config", cfg, "--metrics-addr", freeAddr(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Start()
	deadline := time.Now().Add(60 * time.Second)
	for shipped(stateDir) < uint64(len(want)) || !hasManifest(storeDir) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("last run: shipped %d of %d, manifest %v\n%s", shipped(stateDir), len(want), hasManifest(storeDir), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	out := filepath.Join(root, "out")
	if code, stdout, stderr := walship(t, "restore", "file://"+storeDir, out); code != 0 {
		t.Fatalf("restore: %d\n%s\n%s", code, stdout, stderr)
	}
	for i := 0; i < 8; i++ {
		a, _ := os.ReadFile(filepath.Join(ckpt, fmt.Sprintf("f%d", i)))
		b, err := os.ReadFile(filepath.Join(out, "data", fmt.Sprintf("f%d", i)))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("restored base file f%d differs (%v)", i, err)
		}
	}
	rl, err := tidwal.Open(filepath.Join(out, "wal"), &tidwal.Options{AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	first, _ := rl.FirstIndex()
	last, _ := rl.LastIndex()
	if first != uint64(baseIndex+1) || last != uint64(len(want)) {
		t.Fatalf("restored WAL %d..%d, want %d..%d after the base", first, last, baseIndex+1, len(want))
	}
	for i := first; i <= last; i++ {
		if got, _ := rl.Read(i); !bytes.Equal(got, want[i-1]) {
			t.Fatalf("entry %d differs", i)
		}
	}
	if code, stdout, _ := walship(t, "verify", storeDir); code != 0 {
		t.Fatalf("verify after kills: %d\n%s", code, stdout)
	}
}

func hasManifest(storeDir string) bool {
	m, _ := filepath.Glob(filepath.Join(storeDir, "snapshots", "*", "*.json"))
	return len(m) > 0
}
