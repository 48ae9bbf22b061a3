package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSampleDir: the estimate's sample goes on the log's filesystem, never
// into OUT_DIR: the nearest existing directory above the log, or OUT_DIR's
// parent when that is OUT_DIR or inside it (and on the same filesystem),
// else the system's temporary directory ("").
func TestSampleDir(t *testing.T) {
	root := t.TempDir()
	mkdir := func(p string) string {
		t.Helper()
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(root, "restore")
	elsewhere := mkdir(filepath.Join(root, "logs"))
	cases := []struct {
		name, out, walDir, want string
	}{
		{"OUT_DIR to be made", out, "", root},
		{"OUT_DIR to be made two levels down", filepath.Join(root, "a", "b"), "", root},
		{"existing OUT_DIR", mkdir(filepath.Join(root, "made")), "", root},
		{"existing OUT_DIR/wal's parent inside it", mkdir(filepath.Join(root, "deep")), filepath.Join(mkdir(filepath.Join(root, "deep", "x")), "wal"), root},
		{"--wal-dir elsewhere", out, filepath.Join(elsewhere, "wal"), elsewhere},
		{"--wal-dir elsewhere, its parent to be made", out, filepath.Join(elsewhere, "new", "wal"), elsewhere},
	}
	for _, c := range cases {
		if got := sampleDir(c.out, c.walDir); got != c.want {
			t.Errorf("%s: sampleDir(%s, %q) = %q, want %q", c.name, c.out, c.walDir, got, c.want)
		}
	}
	// A relative OUT_DIR is taken from the working directory.
	t.Chdir(root)
	if got := sampleDir("restore", ""); got != root {
		t.Errorf("relative OUT_DIR: %q, want %q", got, root)
	}
	// OUT_DIR on a filesystem of its own (a mount point): not its parent.
	sameFS = func(a, b string) bool { return false }
	t.Cleanup(func() { sameFS = sameDevice })
	if got := sampleDir(filepath.Join(root, "made"), ""); got != "" {
		t.Errorf("OUT_DIR a mount point: %q, want the system's temporary directory", got)
	}
	if got := sampleDir(out, ""); got != root {
		t.Errorf("OUT_DIR to be made under a mount point: %q, want %q", got, root)
	}
}

// TestSameDevice: /proc is a filesystem of its own on Linux.
func TestSameDevice(t *testing.T) {
	dir := t.TempDir()
	if !sameDevice(dir, filepath.Dir(dir)) {
		t.Errorf("%s and its parent on different filesystems", dir)
	}
	if sameDevice(dir, "/proc") {
		t.Errorf("%s and /proc on the same filesystem", dir)
	}
	if sameDevice(dir, filepath.Join(dir, "missing")) {
		t.Error("a missing directory on the same filesystem")
	}
}
