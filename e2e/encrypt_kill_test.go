package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/backends/storeurl"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
)

// shippedToAll is the lowest entry index the agent's state records as
// shipped to every one of n stores (0 until each has one).
func shippedToAll(stateDir string, n int) uint64 {
	b, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err != nil {
		return 0
	}
	var st struct {
		Shipped map[string]struct{ Index uint64 } `json:"shipped"`
	}
	if json.Unmarshal(b, &st) != nil || len(st.Shipped) < n {
		return 0
	}
	low := ^uint64(0)
	for _, p := range st.Shipped {
		low = min(low, p.Index)
	}
	return low
}

func newIdentity(t *testing.T) (*crypt.Identity, *crypt.Recipient) {
	t.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := id.Recipient()
	return id, r
}

// TestEncryptedUnderKill ships a steady writer's log to three stores: a
// file store encrypted to A, MinIO encrypted to A and B (a second
// recipient set, so the spool holds two encrypted copies of each segment),
// and a plain file store; the agent is killed with SIGKILL at random
// points, mid-seal, mid-encryption, mid-upload. Then every store restores
// the log entry for entry (the encrypted ones with an identity each set
// opens), no encrypted object holds an entry's bytes that the plain store
// holds in the clear, and the spool is empty of encrypted copies.
func TestEncryptedUnderKill(t *testing.T) {
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	state := filepath.Join(root, "state")
	msrv := minioEnv(t)
	idA, rA := newIdentity(t)
	idB, rB := newIdentity(t)
	urls := map[string]string{
		"enc":   "file://" + filepath.Join(root, "enc"),
		"minio": fmt.Sprintf("minio://%s/%s/%s?tls=false", msrv.endpoint, msrv.bucket, storetest.RandomName("encrypt-")),
		"local": "file://" + filepath.Join(root, "local"),
	}
	cfg := filepath.Join(root, "walship.yml")
	yml := fmt.Sprintf(`source: {wal: %s, format: binary}
state: %s
seal: {size: 16KiB, interval: 50ms}
compression: none
encryption: {recipients: [%s]}
stores:
  - {name: enc, url: %q}
  - {name: minio, url: %q, encryption: {recipients: [%s, %s]}}
  - {name: local, url: %q, encrypt: false}
`, walDir, state, rA.Text(), urls["enc"], urls["minio"], rA.Text(), rB.Text(), urls["local"])
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	walshipBin(t) // built before the kills start
	w := startWriter(t, walDir, 17, time.Millisecond)
	r := rand.New(rand.NewPCG(9, 10))
	kills := 0
	for ; kills < 10; kills++ {
		a := startAgent(t, nil, "--config", cfg)
		time.Sleep(time.Duration(200+r.IntN(1200)) * time.Millisecond)
		if a.exited() {
			t.Fatalf("agent exited on its own: %v\n%s", a.err, a.stderr)
		}
		a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
	}
	want := w.Halt(t)
	a := startAgent(t, nil, "--config", cfg)
	deadline := time.Now().Add(90 * time.Second)
	for shippedToAll(state, 3) < uint64(len(want)) {
		if a.exited() || time.Now().After(deadline) {
			t.Fatalf("shipped %d of %d to every store (exited %v):\n%s", shippedToAll(state, 3), len(want), a.exited(), a.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := a.term(t); code != 0 {
		t.Fatalf("replicate: exit %d\n%s", code, a.stderr)
	}
	t.Logf("%d entries, %d SIGKILLs", len(want), kills)
	if left, _ := filepath.Glob(filepath.Join(state, "spool", "to-*", "*")); len(left) > 0 {
		t.Errorf("encrypted copies left in the spool: %v", left)
	}

	out := filepath.Join(root, "out-local")
	if res := walship(t, nil, "restore", urls["local"], out); res.code != 0 {
		t.Fatalf("restore local: %s", res)
	}
	compareRestored(t, filepath.Join(out, "wal"), want)
	ctx := context.Background()
	for _, tc := range []struct {
		store string
		id    *crypt.Identity
	}{{"enc", idA}, {"minio", idA}, {"minio", idB}} {
		st, err := storeurl.Open(ctx, urls[tc.store])
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(root, fmt.Sprintf("out-%s-%s", tc.store, tc.id.Fingerprint()))
		if _, _, err := pitr.Restore(ctx, st, pitr.Target{Latest: true}, out, pitr.Options{Identities: []*crypt.Identity{tc.id}}); err != nil {
			t.Fatalf("restore %s with %v: %v", tc.store, tc.id, err)
		}
		compareRestored(t, filepath.Join(out, "wal"), want)
		st.Close()
	}

	// Entries long enough to be told apart are in the plain store's
	// objects (no compression) and in none of the encrypted stores'.
	var probes [][]byte
	for _, e := range want {
		if len(e) >= 48 && len(probes) < 40 {
			probes = append(probes, e[:48])
		}
	}
	if found := holding(t, urls["local"], probes); found == 0 {
		t.Fatal("the plain store holds none of the probes: the check below proves nothing")
	}
	for _, s := range []string{"enc", "minio"} {
		if found := holding(t, urls[s], probes); found > 0 {
			t.Fatalf("store %s holds %d entries in the clear", s, found)
		}
	}
}

// holding counts the probes found in some object of the store.
func holding(t *testing.T, url string, probes [][]byte) int {
	t.Helper()
	ctx := context.Background()
	st, err := storeurl.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var keys []string
	if err := st.List(ctx, "", "", func(oi backends.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, k := range keys {
		rc, err := st.Get(ctx, k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range probes {
			if bytes.Contains(b, p) {
				seen[i] = true
			}
		}
	}
	return len(seen)
}
