package snapshot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nset -e\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandCapture(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	writeFile(t, filepath.Join(data, "table"), randBytes(7, 100000), 0o600)
	writeFile(t, filepath.Join(data, "meta", "version"), []byte("3"), 0o644)
	released := filepath.Join(tmp, "released")
	// The capture command makes a checkpoint copy and names it.
	capture := script(t, tmp, "checkpoint.sh", `
cp=$(mktemp -d "$1/checkpoint.XXXX")
cp -a "$2/." "$cp/"
echo "capturing" >&2
printf '{"dir": "%s", "index": 4711}\n' "$cp"
`)
	release := script(t, tmp, "release.sh", `echo "$1" > "`+released+`"; rm -rf "$1"`)
	c := snapshot.Command{Argv: []string{capture, tmp, data}, Release: []string{release}}
	m, stats, err := c.Snapshot(ctx, st, opts())
	if err != nil {
		t.Fatal(err)
	}
	if m.Index != 4711 || m.Source.Method != segments.MethodCommand || stats.Files != 2 || !strings.Contains(m.Source.Detail, "checkpoint.sh") {
		t.Fatalf("manifest %+v, stats %+v", m, stats)
	}
	b, err := os.ReadFile(released)
	if err != nil {
		t.Fatal("release did not run:", err)
	}
	cp := strings.TrimSpace(string(b))
	if !strings.HasPrefix(filepath.Base(cp), "checkpoint.") {
		t.Fatalf("release got %q, want the checkpoint dir", cp)
	}
	if _, err := os.Stat(cp); !os.IsNotExist(err) {
		t.Fatalf("checkpoint %s not released: %v", cp, err)
	}
	out := filepath.Join(tmp, "restored")
	if err := snapshot.RestoreFiles(ctx, st, m, out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, data, out)
}

func TestCommandFailures(t *testing.T) {
	tmp := t.TempDir()
	dir := t.TempDir()
	cases := []struct {
		name string
		body string
		msg  []string
	}{
		{"exit status", "echo 'no space left on device' >&2\nexit 3", []string{"capture command", "exit status 3", "stderr: no space left on device"}},
		{"not JSON", "echo hello", []string{`printed "hello"`, "want one line"}},
		{"two lines", `echo '{"dir": "` + dir + `", "index": 1}'; echo '{"dir": "` + dir + `", "index": 2}'`, []string{"printed 2 non-empty lines"}},
		{"nothing", "true", []string{"printed 0 non-empty lines"}},
		{"no index", `echo '{"dir": "` + dir + `"}'`, []string{`without "dir" or "index"`}},
		{"unknown field", `echo '{"dir": "` + dir + `", "index": 1, "lsn": 5}'`, []string{"unknown field"}},
		{"negative index", `echo '{"dir": "` + dir + `", "index": -1}'`, []string{"cannot unmarshal"}},
		{"relative dir", `echo '{"dir": "data", "index": 1}'`, []string{"not an absolute path"}},
		{"missing dir", `echo '{"dir": "/nonexistent/walship", "index": 1}'`, []string{"not a directory"}},
		{"too much output", `head -c 200000 /dev/zero | tr '\0' x`, []string{"more than"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := mem.New()
			released := filepath.Join(tmp, c.name+".released")
			cmd := snapshot.Command{
				Argv:    []string{script(t, tmp, c.name+".sh", c.body)},
				Release: []string{"sh", "-c", `echo "$0" > "` + released + `"`},
			}
			_, _, err := cmd.Snapshot(context.Background(), st, opts())
			if !errors.Is(err, snapshot.ErrCommand) {
				t.Fatalf("err %v, want ErrCommand", err)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			noManifest(t, st)
			if _, err := os.Stat(released); err == nil {
				t.Error("release ran though no checkpoint was named")
			}
		})
	}
	t.Run("empty argv", func(t *testing.T) {
		_, _, err := snapshot.Command{}.Snapshot(context.Background(), mem.New(), opts())
		if !errors.Is(err, snapshot.ErrCommand) || !strings.Contains(err.Error(), "empty") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestCommandReleaseFailure(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "cp", "f"), []byte("data"), 0o600)
	cmd := snapshot.Command{
		Argv:    []string{"sh", "-c", `printf '{"dir": "%s", "index": 9}' "$0"`, filepath.Join(tmp, "cp")},
		Release: []string{"sh", "-c", "echo cannot release >&2; exit 1"},
	}
	m, _, err := cmd.Snapshot(ctx, st, opts())
	if !errors.Is(err, snapshot.ErrRelease) || !strings.Contains(err.Error(), "cannot release") {
		t.Fatalf("err %v, want ErrRelease with the stderr", err)
	}
	// The snapshot itself is stored and usable.
	if m.Index != 9 {
		t.Fatalf("manifest %+v", m)
	}
	if _, err := snapshot.Load(ctx, st, m.Key()); err != nil {
		t.Fatal(err)
	}
}

func TestCommandReleaseRunsAfterAFailedUpload(t *testing.T) {
	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "cp", "f"), []byte("data"), 0o600)
	released := filepath.Join(tmp, "released")
	st := &failingStore{Store: mem.New(), failAt: 1}
	cmd := snapshot.Command{
		Argv:    []string{"sh", "-c", `printf '{"dir": "%s", "index": 9}' "$0"`, filepath.Join(tmp, "cp")},
		Release: []string{"sh", "-c", `echo "$0" > "` + released + `"`},
	}
	_, _, err := cmd.Snapshot(context.Background(), st, opts())
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err %v", err)
	}
	noManifest(t, st)
	if b, _ := os.ReadFile(released); strings.TrimSpace(string(b)) != filepath.Join(tmp, "cp") {
		t.Fatalf("release got %q", b)
	}
}
