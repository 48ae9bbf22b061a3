package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/retention/retentiontest"
)

// migrateStore builds a v1 store (migratetest.Build) in a file store.
func migrateStore(t *testing.T) (string, *file.Store, *retentiontest.World) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	st, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, st, migratetest.Build(t, st)
}

// TestMigrateDryRunCLI: --dry-run prints the counts and bytes per kind
// and writes nothing; --json gives the same as a document.
func TestMigrateDryRunCLI(t *testing.T) {
	dir, st, _ := migrateStore(t)
	_, _, pub := testKeys(t, t.TempDir(), "a")
	before := migratetest.Objects(t, st)
	code, out, errOut := walship(t, "migrate", dir, "--to", "2", "--encrypt-to", pub, "--dry-run", "--scratch", t.TempDir())
	if code != 0 || !strings.Contains(out, "segments  33 listed, 0 current, would rewrite 33 (") ||
		!strings.Contains(out, "timelines 3 listed, 0 current, would rewrite 3") || !strings.Contains(out, "bases     2 listed, 0 current, would rewrite 2 (") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = walship(t, "migrate", dir, "--to", "2", "--encrypt-to", pub, "--dry-run", "--json", "--scratch", t.TempDir())
	var doc migrateSummary
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Stores) != 1 || doc.Stores[0].Segments.Rewrite != 33 ||
		doc.Stores[0].Points.Rewrite != 3 || doc.Stores[0].Bases.Rewrite != 2 || doc.Stores[0].Chunks.Rewrite == 0 || !doc.Stores[0].DryRun {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !migratetest.Same(before, migratetest.Objects(t, st)) {
		t.Fatal("a dry run changed the store")
	}
}

// TestMigrateRotationCLI: a store sealed to A migrated to B: without A's
// identity one line names A's fingerprint, exit 1, nothing changed; with
// it every object opens with B and none with A, and every target restores
// exactly with B's identity.
func TestMigrateRotationCLI(t *testing.T) {
	dir, st, w := migrateStore(t)
	keys := t.TempDir()
	idA, keyA, pubA := testKeys(t, keys, "a")
	idB, _, pubB := testKeys(t, keys, "b")
	if code, out, errOut := walship(t, "migrate", dir, "--to", "2", "--encrypt-to", pubA, "--scratch", t.TempDir()); code != 0 {
		t.Fatalf("migrate to A: exit %d\n%s\n%s", code, out, errOut)
	}
	before := migratetest.Objects(t, st)
	code, _, errOut := walship(t, "migrate", dir, "--to", "2", "--encrypt-to", pubB, "--scratch", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "fp "+idA.Fingerprint().String()) || !strings.Contains(errOut, "--identity FILE") ||
		!strings.Contains(errOut, "nothing was changed") {
		t.Fatalf("migrate to B without A's identity: exit %d\n%s", code, errOut)
	}
	if !migratetest.Same(before, migratetest.Objects(t, st)) {
		t.Fatal("a refused migration changed the store")
	}
	code, out, errOut := walship(t, "migrate", dir, "--to", "2", "--encrypt-to", pubB, "--identity", keyA, "--limit-up", "10MiB", "--scratch", t.TempDir())
	if code != 0 || !strings.Contains(out, "re-keyed") {
		t.Fatalf("migrate to B: exit %d\n%s\n%s", code, out, errOut)
	}
	rB, _ := idB.Recipient()
	migratetest.CheckTarget(t, st, []*crypt.Recipient{rB}, []*crypt.Identity{idA})
	w.Identities = []*crypt.Identity{idB}
	migratetest.RestoreAll(t, w, st)
}

// TestMigrateScratchLock: two migrations never share a scratch dir.
func TestMigrateScratchLock(t *testing.T) {
	dir := t.TempDir()
	_, unlock, err := migrateScratch(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, _, err := migrateScratch(dir); err == nil || !strings.Contains(err.Error(), "is in use by another walship migrate") {
		t.Fatalf("second lock: %v", err)
	}
}

// TestMigrateConfig: with --config each store goes to its own
// encryption: one to the configured recipients, one (encrypt: false) to
// plain format 2; --store NAME migrates one only.
func TestMigrateConfig(t *testing.T) {
	dirA, stA, wA := migrateStore(t)
	dirB, stB, wB := migrateStore(t)
	keys := t.TempDir()
	id, _, pub := testKeys(t, keys, "a")
	cfg := filepath.Join(keys, "walship.yml")
	mustWrite(t, cfg, "encryption: {recipients_file: "+pub+"}\nstores:\n  - {name: a, url: \"file://"+dirA+"\"}\n  - {name: b, url: \"file://"+dirB+"\", encrypt: false}\n")
	before := migratetest.Objects(t, stB)
	if code, out, errOut := walship(t, "migrate", "--config", cfg, "--store", "a", "--to", "2", "--scratch", t.TempDir()); code != 0 {
		t.Fatalf("migrate --store a: exit %d\n%s\n%s", code, out, errOut)
	}
	if !migratetest.Same(before, migratetest.Objects(t, stB)) {
		t.Fatal("--store a changed store b")
	}
	if code, out, errOut := walship(t, "migrate", "--config", cfg, "--to", "2", "--json", "--scratch", t.TempDir()); code != 0 {
		t.Fatalf("migrate --config: exit %d\n%s\n%s", code, out, errOut)
	}
	r, _ := id.Recipient()
	migratetest.CheckTarget(t, stA, []*crypt.Recipient{r}, nil)
	migratetest.CheckTarget(t, stB, nil, nil)
	wA.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, wA, stA)
	migratetest.RestoreAll(t, wB, stB)
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
