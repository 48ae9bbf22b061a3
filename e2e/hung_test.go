package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mgo "github.com/minio/minio-go/v7"

	walagent "github.com/walship/walship/agent"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/internal/testwal"
	"github.com/walship/walship/wal"
)

// staleBound is how far behind the source the healthy store may fall while
// the other store hangs: the seal interval (500ms) plus slack for a loaded
// 2-core machine. Before stores had deadlines, the healthy store got nothing
// for over 50 s at a fresh start and fell 11.8 s behind after a restart.
const staleBound = 3 * time.Second

// TestHungStore: one `walship replicate --config` ships to a file store and
// to MinIO (a server of the test's own) frozen with SIGSTOP: it accepts TCP
// connections and never answers, as a stuck server or a black-holed network
// does. At a fresh start, and again after a kill -9 and restart while it is
// still frozen, the file store stays within staleBound of the source. While
// MinIO is frozen, `walship restore --config` restores from the file store
// and `walship verify --config` reports MinIO as not verified (exit 1).
// Thawed, MinIO is reconciled; each store alone then restores the whole log
// byte for byte.
func TestHungStore(t *testing.T) {
	mp := startPrivateMinio(t)
	walshipBin(t)
	ctx := context.Background()
	bucket := storetest.RandomName("hung-")
	mc, err := newMinioClient(minioServer{endpoint: mp.endpoint(), access: mp.access, secret: mp.secret}, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, bucket, mgo.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	stateDir := filepath.Join(root, "state")
	urls := map[string]string{
		"file":  "file://" + filepath.Join(root, "filestore"),
		"minio": fmt.Sprintf("minio://%s/%s/db?tls=false", mp.endpoint(), bucket),
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	cfg := filepath.Join(root, "walship.yml")
	yml := fmt.Sprintf(`source: {wal: %q, format: binary}
state: %q
seal: {size: 1MiB, interval: 500ms}
stores:
  - {name: file, url: %q}
  - {name: minio, url: %q}
retry: {attempts: 2, max_backoff: 1s, reconcile_max_backoff: 2s}
metrics: {addr: %q}
`, walDir, stateDir, urls["file"], urls["minio"], addr)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	const seed, maxSize = 23, 400
	w := startWriterSize(t, walDir, seed, 3*time.Millisecond, maxSize)
	for w.Count() < 10 {
		time.Sleep(time.Millisecond)
	}

	pid := mp.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP MinIO: %v", err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			syscall.Kill(pid, syscall.SIGCONT)
			thawed = true
		}
	}
	t.Cleanup(thaw)

	h := newAgentHTTP(addr)
	// watch samples /status for d and returns the file store's worst lag.
	watch := func(a *agent, what string, d time.Duration) time.Duration {
		t.Helper()
		h.waitStatus(t, a, what+": agent serving", 30*time.Second, func(st walagent.Status) bool { return len(st.Stores) == 2 })
		var worst time.Duration
		var shippedAt0 uint64
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			st, err := h.status()
			if err != nil {
				t.Fatalf("%s: /status: %v\n%s", what, err, a.stderr)
			}
			fs := storeOf(t, st, "file")
			if shippedAt0 == 0 {
				shippedAt0 = fs.Shipped
			}
			worst = max(worst, time.Duration(fs.LagSeconds*float64(time.Second)))
			if a.exited() {
				t.Fatalf("%s: agent exited: %v\n%s", what, a.err, a.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
		st, _ := h.status()
		if fs := storeOf(t, st, "file"); fs.Shipped <= shippedAt0 {
			t.Fatalf("%s: the file store did not advance while MinIO hung: %s\n%s", what, statusLine(st), a.stderr)
		}
		if worst > staleBound {
			t.Fatalf("%s: the file store fell %v behind while MinIO hung (bound %v)\n%s", what, worst, staleBound, a.stderr)
		}
		t.Logf("%s: worst file-store lag %v while MinIO hung; %s", what, worst.Round(time.Millisecond), statusLine(st))
		return worst
	}

	// A fresh start: the reachability check, the existing-backup check and
	// the lease of the frozen store must not hold up the file store.
	a := startAgent(t, nil, "--config", cfg)
	watch(a, "fresh start", 6*time.Second)

	// kill -9 and a restart while MinIO is still frozen.
	a.cmd.Process.Kill()
	<-a.done
	a = startAgent(t, nil, "--config", cfg)
	watch(a, "restart", 4*time.Second)

	// Readers with both stores use the one that answers.
	out := filepath.Join(root, "restore-while-hung")
	r := walship(t, nil, "restore", "--config", cfg, out, "--latest")
	if r.code != 0 || !strings.Contains(r.stderr, "unreachable") {
		t.Fatalf("restore --config with MinIO frozen: want success from the file store and a warning: %s", r)
	}
	first, got := testwal.ReadLog(t, filepath.Join(out, "wal"), wal.FormatBinary)
	if first != 1 || len(got) < 100 {
		t.Fatalf("restore while hung: %d entries from %d", len(got), first)
	}
	for i, d := range got {
		if want := testwal.Entry(seed, uint64(i+1), maxSize); !bytes.Equal(d, want) {
			t.Fatalf("restore while hung: entry %d differs from the source", i+1)
		}
	}
	r = walship(t, nil, "verify", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, "NOT VERIFIED") || !strings.Contains(r.stdout, "store file") {
		t.Fatalf("verify --config with MinIO frozen: want the file store verified and MinIO NOT VERIFIED (exit 1): %s", r)
	}

	// Thawed: MinIO catches up; the writer stops; every store has it all.
	thaw()
	want := w.Halt(t)
	last := uint64(len(want))
	h.waitStatus(t, a, "every store has the last entry", 120*time.Second, func(st walagent.Status) bool {
		for _, s := range st.Stores {
			if s.Shipped != last || s.Degraded {
				return false
			}
		}
		return true
	})
	if code := a.term(t); code != 0 {
		t.Fatalf("replicate stopped by SIGTERM: exit %d\n%s", code, a.stderr)
	}
	for _, name := range []string{"file", "minio"} {
		out := filepath.Join(root, "restore-"+name)
		if r := walship(t, nil, "restore", urls[name], out); r.code != 0 {
			t.Fatalf("restore from %s alone: %s", name, r)
		}
		compareRestored(t, filepath.Join(out, "wal"), want)
	}
}
