package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends/storetest"
)

// TestCompactionUnderKill ships a steady writer's log to a file store,
// MinIO and Azurite with compaction windows of 1 s and 4 s and a 1 s
// grace, killing the agent with SIGKILL every second or so, mid-merge or
// mid-delete. Then `walship compact --grace 0` finishes the work. Every
// store must restore the log entry for entry, verify clean, and hold a
// handful of segments where the agent shipped hundreds.
func TestCompactionUnderKill(t *testing.T) {
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	state := filepath.Join(root, "state")
	msrv, az := minioEnv(t), azuriteEnv(t)
	urls := map[string]string{
		"file":  "file://" + filepath.Join(root, "filestore"),
		"minio": fmt.Sprintf("minio://%s/%s/%s?tls=false", msrv.endpoint, msrv.bucket, storetest.RandomName("compact-")),
		"azure": fmt.Sprintf("azblob://%s/%s", az.container, storetest.RandomName("compact-")),
	}
	cfg := filepath.Join(root, "walship.yml")
	yml := fmt.Sprintf(`source: {wal: %s, format: binary}
state: %s
seal: {size: 16KiB, interval: 50ms}
stores:
  - {name: file, url: %q}
  - {name: minio, url: %q}
  - {name: azure, url: %q}
compaction: {levels: [1s, 4s], delay: 200ms, grace: 1s, interval: 250ms}
`, walDir, state, urls["file"], urls["minio"], urls["azure"])
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	w := startWriter(t, walDir, 11, 2*time.Millisecond)
	r := rand.New(rand.NewPCG(5, 6))
	var logs strings.Builder
	kills := 0
	for end := time.Now().Add(9 * time.Second); time.Now().Before(end); {
		a := startAgent(t, nil, "--config", cfg)
		time.Sleep(time.Duration(500+r.IntN(1000)) * time.Millisecond)
		if a.exited() {
			t.Fatalf("agent exited on its own: %v\n%s", a.err, a.stderr)
		}
		a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
		kills++
		logs.WriteString(a.stderr.String())
	}
	want := w.Halt(t)
	a := startAgent(t, nil, "--config", cfg)
	a.waitShipped(t, state, uint64(len(want)), 60*time.Second)
	time.Sleep(6 * time.Second) // the last 4 s window closes, merges, and its grace passes
	if code := a.term(t); code != 0 {
		t.Fatalf("replicate: exit %d\n%s", code, a.stderr)
	}
	logs.WriteString(a.stderr.String())
	if !strings.Contains(logs.String(), "compaction: merged segments") {
		t.Fatalf("the agent never compacted:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "differs from the larger one") {
		t.Fatalf("compaction found a conflict:\n%s", logs.String())
	}

	res := walship(t, nil, "compact", "--config", cfg, "--grace", "0")
	if res.code != 0 {
		t.Fatalf("compact: %s", res)
	}
	t.Logf("%d entries, %d SIGKILLs; walship compact --grace 0:\n%s", len(want), kills, res.stdout)
	for name, u := range urls {
		out := filepath.Join(root, "out-"+name)
		if r := walship(t, nil, "restore", u, out); r.code != 0 {
			t.Fatalf("restore %s: %s", name, r)
		}
		compareRestored(t, filepath.Join(out, "wal"), want)
		if r := walship(t, nil, "verify", u); r.code != 0 || !strings.Contains(r.stdout, "OK") {
			t.Fatalf("verify %s: %s", name, r)
		}
		r := walship(t, nil, "list", u, "segments", "--json")
		var segs []segment
		if err := json.Unmarshal([]byte(r.stdout), &segs); r.code != 0 || err != nil {
			t.Fatalf("list %s: %s (%v)", name, r, err)
		}
		// About one segment per 4 s window, plus the windows cut where a
		// timeline starts.
		if len(segs) > 12 {
			t.Fatalf("%s holds %d segments after compaction of %d entries", name, len(segs), len(want))
		}
		t.Logf("%s: %d segments, restored and verified", name, len(segs))
	}
}
