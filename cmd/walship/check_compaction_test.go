package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/config"
	"github.com/walship/walship/crypt"
)

// 'walship check' says which encrypted stores the agent compacts: none
// without compaction.identity_file; with one, those whose recipients it
// opens. An identity that opens no encrypted store, or a file others can
// read, fails the row; the key never shows.
func TestCheckCompaction(t *testing.T) {
	key, ids := keyFile(t, goldenIDA, 0o600)
	mine, _ := ids[0].Recipient()
	other, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := other.Recipient()
	dir := t.TempDir()
	load := func(stores, compaction string) *config.Config {
		t.Helper()
		p := filepath.Join(dir, "walship.yml")
		yml := "source: {wal: /x}\nstores:\n" + stores + compaction
		if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	row := func(cfg *config.Config) (checkRow, int) {
		t.Helper()
		var rep checkReport
		checkCompaction(&rep, cfg, storeTargets(cfg, nil))
		if len(rep.rows) == 0 {
			return checkRow{}, 0
		}
		return rep.rows[0], len(rep.rows)
	}
	stores := fmt.Sprintf("  - {name: plain, url: \"file:///tmp/p\"}\n  - {name: a, url: \"file:///tmp/a\", encryption: {recipients: [%s]}}\n  - {name: b, url: \"file:///tmp/b\", encryption: {recipients: [%s]}}\n", mine.Text(), theirs.Text())
	secret, _ := os.ReadFile(key)
	cases := []struct {
		name, stores, compaction, status string
		want                             []string
	}{
		{"no identity", stores, "", statusOK, []string{"not compacted by the agent", "a, b"}},
		{"opens one", stores, "compaction: {identity_file: " + key + "}\n", statusOK, []string{"the agent compacts a; not b"}},
		{"opens all", "  - {name: a, url: \"file:///tmp/a\", encryption: {recipients: [" + mine.Text() + "]}}\n", "compaction: {identity_file: " + key + "}\n", statusOK, []string{"every encrypted store (a)"}},
		{"opens none", "  - {name: b, url: \"file:///tmp/b\", encryption: {recipients: [" + theirs.Text() + "]}}\n", "compaction: {identity_file: " + key + "}\n", statusFail, []string{"opens the recipients of no encrypted store (b)"}},
		{"nothing encrypted", "  - {name: plain, url: \"file:///tmp/p\"}\n", "compaction: {identity_file: " + key + "}\n", statusOK, []string{"no store is encrypted"}},
	}
	for _, c := range cases {
		r, n := row(load(c.stores, c.compaction))
		if n != 1 || r.Status != c.status {
			t.Fatalf("%s: %d rows, first %+v; want one %s row", c.name, n, r, c.status)
		}
		for _, w := range c.want {
			if !strings.Contains(r.Detail, w) {
				t.Fatalf("%s: %q does not say %q", c.name, r.Detail, w)
			}
		}
	}
	if _, n := row(load("  - {name: plain, url: \"file:///tmp/p\"}\n", "")); n != 0 {
		t.Fatalf("no encrypted store, no identity: %d rows, want none", n)
	}
	if _, n := row(load(stores, "compaction: {enabled: false, identity_file: "+key+"}\n")); n != 0 {
		t.Fatalf("compaction off: %d rows, want none", n)
	}
	os.Chmod(key, 0o644)
	r, _ := row(load(stores, "compaction: {identity_file: "+key+"}\n"))
	if r.Status != statusFail || !strings.Contains(r.Detail, "chmod 600 "+key) || strings.Contains(r.Detail, strings.TrimSpace(string(secret))) {
		t.Fatalf("an identity file others can read: %+v", r)
	}
}
