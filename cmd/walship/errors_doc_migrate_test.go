package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/walship/walship/crypt"
)

// addMigrate adds to the fixture what walship migrate's errors need: a
// recipients file no golden object is sealed to (rcpt-other), a config
// that keeps the encrypted golden store plain (migrate-plain.yml), and a
// copy of the store with a damaged segment ($MIGRATE_CORRUPT: migrate
// changes the stores it runs on), and a copy of the encrypted base store
// that lost a chunk ($MIGRATE_BASE: its base cannot be rewritten).
func (f *errFixture) addMigrate(t *testing.T) {
	t.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := id.Recipient()
	f.write(t, "rcpt-other", r.Text()+"\n")
	f.write(t, "migrate-plain.yml", fmt.Sprintf("stores:\n  - {name: enc, url: %q}\n", f.vars["ENC"]))
	dir := filepath.Join(f.root, "migrate-corrupt")
	if err := os.CopyFS(dir, os.DirFS(f.vars["CORRUPT"])); err != nil {
		t.Fatal(err)
	}
	f.vars["MIGRATE_CORRUPT"] = dir
	base := copyStore(t, goldenEncryptedBase)
	chunks, err := filepath.Glob(filepath.Join(base, "chunks", "*", "*"))
	if err != nil || len(chunks) == 0 {
		t.Fatalf("no chunk in the encrypted base store (%v)", err)
	}
	if err := os.Remove(chunks[0]); err != nil {
		t.Fatal(err)
	}
	f.vars["MIGRATE_BASE"] = base
}
