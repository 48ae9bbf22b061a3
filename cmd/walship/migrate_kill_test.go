package main

import (
	"bytes"
	"context"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/pitr"
)

// testKeys makes an identity, its 0600 identity file and a recipients
// file holding its public key.
func testKeys(t *testing.T, dir, name string) (id *crypt.Identity, idFile, recipFile string) {
	t.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := id.Recipient()
	idFile, recipFile = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(idFile, []byte(id.SecretText()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recipFile, []byte(r.Text()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return id, idFile, recipFile
}

// TestKill9DuringMigrate: walship migrate of a v1 store (a fork, a gap,
// points, two plain bases sharing chunks) to an encrypted v2 store, killed
// with SIGKILL at random moments and run again until it finishes. After
// every kill every target restores exactly (the store at that instant: a
// base and its rewrite may stand side by side), verify finds no damage and
// prune plans; at the end no v1 object, plain chunk or other key record is
// left, no chunk is unreferenced, every object is sealed to the
// recipient, the store verifies clean and every target restores byte for
// byte.
func TestKill9DuringMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := walshipBin(t)
	root := t.TempDir()
	storeDir := filepath.Join(root, "store")
	st, err := file.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	w := migratetest.Build(t, st)
	id, _, recips := testKeys(t, root, "a")
	w.Identities = []*crypt.Identity{id}
	scratch := filepath.Join(root, "scratch")
	rng := mrand.New(mrand.NewPCG(11, 12))
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt == 60 {
			t.Fatalf("migrate did not finish in %d runs", attempt)
		}
		cmd := exec.Command(bin, "migrate", storeDir, "--to", "2", "--encrypt-to", recips, "--limit-up", "32KiB",
			"--quiet", "--scratch", scratch, "--parallel", "2")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var werr error
		select {
		case werr = <-done:
			if werr != nil {
				t.Fatalf("migrate run %d failed: %v\n%s", attempt, werr, out.String())
			}
		case <-time.After(time.Duration(100+rng.IntN(900)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			if werr = <-done; werr == nil {
				break // it finished just before the kill
			}
			kills++
			migratetest.RestoreAll(t, w, st) // the store as the kill left it
			migratetest.CheckInterrupted(t, st, w.Identities)
			continue
		}
		t.Logf("finished on run %d after %d kills:\n%s", attempt+1, kills, out.String())
		break
	}
	if kills < 3 {
		t.Fatalf("only %d kills: the test did not interrupt migrate", kills)
	}
	r, _ := id.Recipient()
	migratetest.CheckTarget(t, st, []*crypt.Recipient{r}, nil)
	rep, err := pitr.VerifyWith(context.Background(), st, pitr.VerifyOptions{Identities: w.Identities})
	if err != nil || len(rep.Damaged) > 0 || len(rep.Gaps) > 0 || len(rep.Conflicts) > 0 {
		t.Fatalf("verify: %v, damage %+v, gaps %+v, conflicts %+v", err, rep.Damaged, rep.Gaps, rep.Conflicts)
	}
	migratetest.RestoreAll(t, w, st)
}
