package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mgo "github.com/minio/minio-go/v7"

	walagent "github.com/walship/walship/agent"
	"github.com/walship/walship/backends/storetest"
)

// outage is how long MinIO stays down in TestStoreOutage: three times
// metrics.max_lag, so that the lag alarm has 20 s to show.
const outage = 30 * time.Second

// outageStores are the stores of TestStoreOutage, in config order.
var outageStores = []string{"file", "minio", "azure"}

// TestStoreOutage: one `walship replicate --config` ships a live log to a
// file store, MinIO (minio://) and Azurite (azblob://) at once. MinIO (a
// server of the test's own) is killed for 30 s while the writer keeps
// writing:
//
//   - the file and Azurite stores keep shipping (their shipped index
//     advances by most of what was written meanwhile, their lag stays
//     under 5 s);
//   - MinIO's shipped index does not move, the store turns degraded, its
//     lag grows with the outage, and /healthz fails naming it (degraded,
//     then lag over metrics.max_lag = 10s) and never names the others;
//     `walship status` shows it DEGRADED.
//
// MinIO is restarted on the same data dir and port: the store is
// reconciled and catches up within a bound, degraded clears, /healthz is
// ok again. The writer stops, every store ships the last entry, SIGTERM
// exits 0, and a restore from each store alone is byte-identical to the
// source; `walship verify` of each store is clean.
func TestStoreOutage(t *testing.T) {
	az := azuriteEnv(t)
	mp := startPrivateMinio(t)
	walshipBin(t)
	start := time.Now()
	ctx := context.Background()

	bucket := storetest.RandomName("outage-")
	mc, err := newMinioClient(minioServer{endpoint: mp.endpoint(), access: mp.access, secret: mp.secret}, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, bucket, mgo.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket on the private MinIO: %v", err)
	}
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	urls := map[string]string{
		"file":  "file://" + filepath.Join(root, "filestore"),
		"minio": fmt.Sprintf("minio://%s/%s/db?tls=false", mp.endpoint(), bucket),
		"azure": fmt.Sprintf("azblob://%s/%s", az.container, storetest.RandomName("outage-")),
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	cfg := filepath.Join(root, "walship.yml")
	yml := fmt.Sprintf(`source: {wal: %q, format: binary}
state: %q
seal: {size: 1MiB, interval: 500ms}
compression: zstd
stores:
  - {name: file, url: %q}
  - {name: minio, url: %q}
  - {name: azure, url: %q}
retry: {attempts: 3, max_backoff: 1s, reconcile_max_backoff: 5s}
metrics: {addr: %q, max_lag: 10s}
`, walDir, filepath.Join(root, "state"), urls["file"], urls["minio"], urls["azure"], addr)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	// ~330 entries/s of about 200 bytes (testwal entries of at most 400).
	w := startWriterSize(t, walDir, 11, 3*time.Millisecond, 400)
	for w.Count() < 10 {
		time.Sleep(time.Millisecond)
	}
	a := startAgent(t, nil, "--config", cfg)
	h := newAgentHTTP(addr)
	h.waitStatus(t, a, "every store shipping", 30*time.Second, func(st walagent.Status) bool {
		for _, s := range st.Stores {
			if s.Shipped < 300 || s.Degraded {
				return false
			}
		}
		return len(st.Stores) == 3
	})
	if code, body, err := h.healthz(); err != nil || code != 200 {
		t.Fatalf("/healthz before the outage: %d %q %v", code, body, err)
	}

	// The outage.
	mp.kill(t)
	killedAt := time.Now()
	writtenAtKill := w.Count()
	t.Logf("MinIO pid %d killed after %v; writer at entry %d", mp.cmd.Process.Pid, killedAt.Sub(start).Round(time.Millisecond), writtenAtKill)
	type sample struct {
		at      time.Duration // since the kill
		written int
		st      walagent.Status
		code    int
		health  string
	}
	var samples []sample
	for time.Since(killedAt) < outage {
		time.Sleep(250 * time.Millisecond)
		st, err := h.status()
		if err != nil {
			t.Fatalf("/status during the outage: %v\n%s", err, a.stderr)
		}
		code, body, err := h.healthz()
		if err != nil {
			t.Fatalf("/healthz during the outage: %v", err)
		}
		samples = append(samples, sample{time.Since(killedAt), w.Count(), st, code, body})
	}
	// `walship status` names the degraded store.
	r := walship(t, nil, "status", "--addr", addr)
	if r.code != 0 || !minioLineHas(r.stdout, "DEGRADED") {
		t.Fatalf("walship status during the outage: want the minio store DEGRADED; %s", r)
	}

	// What the outage showed. base: the first sample 1 s after the kill
	// (an upload verified just before the kill may still be recorded).
	bi := 0
	for bi < len(samples)-1 && samples[bi].at < time.Second {
		bi++
	}
	base, end := samples[bi], samples[len(samples)-1]
	written := end.written - base.written
	var degradedAt, lagHealthAt time.Duration = -1, -1
	for _, s := range samples {
		for _, name := range []string{"file", "azure"} {
			ss := storeOf(t, s.st, name)
			if ss.Degraded || ss.LagSeconds >= 5 {
				t.Errorf("store %s at +%v of the outage: lag %.2fs, degraded %v; want it shipping on (lag < 5s): %s",
					name, s.at.Round(time.Millisecond), ss.LagSeconds, ss.Degraded, statusLine(s.st))
			}
			if strings.Contains(s.health, "store "+name+":") {
				t.Errorf("/healthz at +%v names the healthy store %s: %s", s.at.Round(time.Millisecond), name, s.health)
			}
		}
		m := storeOf(t, s.st, "minio")
		if s.at >= base.at && m.Shipped != storeOf(t, base.st, "minio").Shipped {
			t.Errorf("minio shipped index moved during the outage: %d at +%v, %d at +%v", storeOf(t, base.st, "minio").Shipped,
				base.at.Round(time.Millisecond), m.Shipped, s.at.Round(time.Millisecond))
		}
		if m.Degraded && degradedAt < 0 {
			degradedAt = s.at
		}
		if m.Degraded && (s.code != 503 || !strings.Contains(s.health, "store minio: degraded")) {
			t.Errorf("/healthz at +%v with minio degraded: HTTP %d %q; want 503 naming it", s.at.Round(time.Millisecond), s.code, s.health)
		}
		if m.LagSeconds > 10.5 {
			if s.code != 503 || !strings.Contains(s.health, "store minio: lag") {
				t.Errorf("/healthz at +%v with minio lag %.1fs > max_lag 10s: HTTP %d %q; want 503 naming its lag",
					s.at.Round(time.Millisecond), m.LagSeconds, s.code, s.health)
			} else if lagHealthAt < 0 {
				lagHealthAt = s.at
			}
		}
	}
	for _, name := range []string{"file", "azure"} {
		adv := storeOf(t, end.st, name).Shipped - storeOf(t, base.st, name).Shipped
		t.Logf("outage: store %s shipped %d..%d (+%d) while %d entries were written", name,
			storeOf(t, base.st, name).Shipped, storeOf(t, end.st, name).Shipped, adv, written)
		if written < 5000 || adv < uint64(written)*8/10 {
			t.Errorf("store %s advanced %d entries during the outage while %d were written; want most of them (and the writer to write >= 5000)",
				name, adv, written)
		}
	}
	mEnd := storeOf(t, end.st, "minio")
	if degradedAt < 0 || !mEnd.Degraded {
		t.Errorf("minio never degraded (or recovered while down) during a %v outage: %s", outage, statusLine(end.st))
	}
	if lagHealthAt < 0 || mEnd.LagSeconds < (outage-5*time.Second).Seconds() {
		t.Errorf("minio lag at the end of the outage %.1fs (healthz lag alarm at %v); want about the outage, %v, and /healthz naming it",
			mEnd.LagSeconds, lagHealthAt, outage)
	}
	t.Logf("outage: minio degraded at +%v, /healthz names its lag from +%v; at the end lag %.1fs, %d entries behind; %s",
		degradedAt.Round(time.Millisecond), lagHealthAt.Round(time.Millisecond), mEnd.LagSeconds, mEnd.LagEntries, statusLine(end.st))
	if t.Failed() {
		t.FailNow()
	}

	// MinIO back, same data dir and port.
	mp.start(t)
	restartedAt := time.Now()
	owed := end.st.Sealed
	st := h.waitStatus(t, a, "minio caught up after the restart", 60*time.Second, func(st walagent.Status) bool {
		m := storeOf(t, st, "minio")
		return !m.Degraded && m.Shipped >= owed
	})
	caughtUp := time.Since(restartedAt)
	for {
		code, body, err := h.healthz()
		if err == nil && code == 200 {
			break
		}
		if time.Since(restartedAt) > 90*time.Second {
			t.Fatalf("/healthz still failing %v after MinIO came back: %d %q %v", time.Since(restartedAt), code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("MinIO restarted (pid %d): minio store reconciled and caught up with entry %d in %v, /healthz ok after %v; %s",
		mp.cmd.Process.Pid, owed, caughtUp.Round(time.Millisecond), time.Since(restartedAt).Round(time.Millisecond), statusLine(st))
	_, metrics, err := h.get("/metrics")
	if err != nil || !strings.Contains(string(metrics), `walship_store_degraded{store="minio"} 0`) ||
		strings.Contains(string(metrics), `walship_store_reconciles_total{store="minio"} 0`) {
		t.Errorf("/metrics after recovery: want minio not degraded and reconciles > 0 (%v):\n%s", err, grepLines(string(metrics), "minio"))
	}

	// Stop the writer; every store gets the last entry; SIGTERM.
	want := w.Halt(t)
	last := uint64(len(want))
	h.waitStatus(t, a, fmt.Sprintf("every store shipped entry %d", last), 30*time.Second, func(st walagent.Status) bool {
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
	logs := a.stderr.String()
	t.Logf("agent log about the minio store:\n%s", firstLines(grepLines(logs, "store=minio"), 12))
	if !strings.Contains(logs, "store degraded") || !strings.Contains(logs, "store recovered") {
		t.Errorf("agent log: want the degraded and recovered transitions logged:\n%s", logs)
	}
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=ERROR") && !strings.Contains(l, "store=minio") {
			t.Errorf("agent logged an error not about the minio store: %s", l)
		}
	}

	// Each store alone restores the whole log, byte for byte, and verifies.
	for _, name := range outageStores {
		out := filepath.Join(root, "restore-"+name)
		r := walship(t, nil, "restore", urls[name], out)
		if r.code != 0 {
			t.Fatalf("restore from %s alone: %s", name, r)
		}
		compareRestored(t, filepath.Join(out, "wal"), want)
		if r := walship(t, nil, "verify", urls[name]); r.code != 0 || !strings.Contains(r.stdout, "OK") {
			t.Fatalf("verify %s: %s", name, r)
		}
	}
	t.Logf("%d entries written; restored from each of %v alone byte-identical and verified; test took %v",
		last, outageStores, time.Since(start).Round(time.Millisecond))
}

// minioLineHas reports whether the minio row of `walship status` holds s.
func minioLineHas(out, s string) bool {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "minio" && strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// firstLines keeps the first n lines of s and says how many were left off.
func firstLines(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) <= n {
		return s
	}
	return strings.Join(ls[:n], "\n") + fmt.Sprintf("\n... (%d more lines)", len(ls)-n)
}
