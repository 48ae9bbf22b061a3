package config_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/config"
	"github.com/walship/walship/snapshot"
)

func TestCommandForms(t *testing.T) {
	cases := []struct {
		doc     string
		command []string
		release []string
	}{
		{`snapshot: {command: "mydb-ctl checkpoint", release: "rm -rf"}`,
			[]string{config.Shell, "-c", "mydb-ctl checkpoint"}, []string{config.Shell, "-c", `rm -rf "$1"`, "sh"}},
		{`snapshot: {command: [mydb-ctl, checkpoint], release: [rm, -rf]}`,
			[]string{"mydb-ctl", "checkpoint"}, []string{"rm", "-rf"}},
		{`snapshot: {command: "", release: }`, nil, nil},
	}
	for _, tc := range cases {
		c, err := config.Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: %v", tc.doc, err)
		}
		if !slices.Equal(c.Snapshot.Command, tc.command) || !slices.Equal(c.Snapshot.Release, tc.release) {
			t.Errorf("%s: command %q release %q, want %q %q", tc.doc, c.Snapshot.Command, c.Snapshot.Release, tc.command, tc.release)
		}
	}
}

// TestStringCommandTakesSnapshot runs a config's string capture and
// release commands through the snapshot package: the capture prints its
// checkpoint through a shell pipeline, and the release gets the checkpoint
// dir (with a space and a quote in its name) as one argument.
func TestStringCommandTakesSnapshot(t *testing.T) {
	tmp := t.TempDir()
	cp := filepath.Join(tmp, `check point "1"`)
	writeFile(t, filepath.Join(cp, "table"), "rows")
	released := filepath.Join(tmp, "released")
	t.Setenv("CP_DIR", cp)
	t.Setenv("RELEASED", released)
	// The values are kept out of the YAML (they hold quotes) and read by
	// the shell from the environment.
	c, err := config.Parse([]byte(`
snapshot:
  command: |
    printf '{"dir": "%s", "index": %d}\n' "$(printf %s "$CP_DIR" | sed 's/"/\\"/g')" 42 | cat
  release: printf %s >"$RELEASED"
`))
	if err != nil {
		t.Fatal(err)
	}
	st := mem.New()
	m, stats, err := snapshot.Command{Argv: c.Snapshot.Command, Release: c.Snapshot.Release}.Snapshot(context.Background(), st, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Index != 42 || stats.Files != 1 {
		t.Fatalf("manifest index %d, %d files; want 42, 1", m.Index, stats.Files)
	}
	got, err := os.ReadFile(released)
	if err != nil {
		t.Fatal("release did not run:", err)
	}
	if real, _ := filepath.EvalSymlinks(cp); string(got) != cp && string(got) != real {
		t.Fatalf("release got %q, want %q", got, cp)
	}
	out := filepath.Join(tmp, "restored")
	if err := snapshot.RestoreFiles(context.Background(), st, m, out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "table")); err != nil || string(b) != "rows" {
		t.Fatalf("restored table %q, %v", b, err)
	}
}

// TestArgvAndStringFreeze runs freeze and thaw written both ways.
func TestArgvAndStringFreeze(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	writeFile(t, filepath.Join(data, "f"), "x")
	log := filepath.Join(tmp, "log")
	t.Setenv("LOG", log)
	c, err := config.Parse([]byte(`
snapshot:
  freeze: echo frozen >> "$LOG"
  thaw: [` + config.Shell + `, -c, 'echo thawed >> "$LOG"']
`))
	if err != nil {
		t.Fatal(err)
	}
	f := snapshot.Freeze{DataDir: data, StateDir: filepath.Join(tmp, "state"), FreezeCmd: c.Snapshot.Freeze, ThawCmd: c.Snapshot.Thaw,
		Index: func() uint64 { return 7 }}
	if err := os.MkdirAll(f.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	m, _, err := f.Snapshot(context.Background(), mem.New(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil || strings.Fields(string(b))[0] != "frozen" || !strings.Contains(string(b), "thawed") || m.Index != 7 {
		t.Fatalf("log %q (%v), index %d: want frozen then thawed, 7", b, err, m.Index)
	}
}

// writeFile writes a file and the directories above it.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
