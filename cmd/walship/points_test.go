package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tidwal "github.com/tidwall/wal"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// uploadBase stores a base snapshot of a small data dir in the file store
// at storeDir, for entry index of timeline 1, and returns the dir.
func uploadBase(t *testing.T, storeDir string, index uint64) (string, snapshot.Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"a": 3000, "sub/b": 10, "empty": 0} {
		pat := []byte(fmt.Sprintf("%s-%d;", name, index))
		b := bytes.Repeat(pat, size/len(pat)+1)[:size]
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	st, err := file.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, _, err := snapshot.Upload(context.Background(), st, snapshot.Source{Dir: dir, Index: index}, snapshot.Options{ChunkSize: snapshot.MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// compareFrom checks a restored log holds exactly want[from-1:to], from
// index from.
func compareFrom(t *testing.T, dir string, want [][]byte, from, to uint64) {
	t.Helper()
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, AllowEmpty: true})
	if err != nil {
		t.Fatalf("open restored log: %v", err)
	}
	defer l.Close()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	if first != from || last != to {
		t.Fatalf("restored %d..%d, want %d..%d", first, last, from, to)
	}
	for i := from; i <= to; i++ {
		got, err := l.Read(i)
		if err != nil || !bytes.Equal(got, want[i-1]) {
			t.Fatalf("restored entry %d differs from the source (%v)", i, err)
		}
	}
}

func sameFiles(t *testing.T, got, want string) {
	t.Helper()
	for _, name := range []string{"a", "sub/b", "empty"} {
		g, err1 := os.ReadFile(filepath.Join(got, name))
		w, err2 := os.ReadFile(filepath.Join(want, name))
		if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
			t.Fatalf("restored %s differs from the snapshot source (%v, %v)", name, err1, err2)
		}
	}
}

// mark, list points|snapshots, restore --point (from a base and with
// --no-base), mark --delete, and mark with --config into two stores.
func TestMarkAndRestorePointCLI(t *testing.T) {
	storeDir, want := replicateSome(t, 600)
	dataSrc, m := uploadBase(t, storeDir, 300)

	code, stdout, stderr := walship(t, "mark", storeDir, "before-upgrade", "--index", "400", "--pin")
	if code != 0 || !strings.Contains(stdout, "marked restore point before-upgrade (pinned): timeline 1, index 400") {
		t.Fatalf("mark: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = walship(t, "mark", storeDir, "latest")
	if code != 0 {
		t.Fatalf("mark latest: %d %s", code, stderr)
	}
	code, _, stderr = walship(t, "mark", storeDir, "before-upgrade")
	if code != 1 || !strings.Contains(stderr, "pick another name") {
		t.Fatalf("duplicate mark: exit %d %s", code, stderr)
	}
	for _, bad := range [][]string{
		{"mark", storeDir, "../evil"},
		{"mark", storeDir, "a/b"},
		{"mark", storeDir},
		{"mark", storeDir, "x", "--index", "5", "--time", "2026-01-01T00:00:00Z"},
		{"mark", storeDir, "--delete", "x", "--pin"},
		{"restore", storeDir, t.TempDir(), "--point", "x", "--index", "4"},
		{"restore", storeDir, t.TempDir(), "--point", "../x"},
		{"restore", storeDir, t.TempDir(), "--no-base", "--data-dir", "/tmp/x"},
		{"list", storeDir, "nothing"},
	} {
		if code, _, stderr := walship(t, bad...); code != 2 {
			t.Errorf("walship %v: exit %d, want 2 (%s)", bad, code, stderr)
		}
	}
	code, _, stderr = walship(t, "mark", storeDir, "future", "--index", "100000")
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("shipped up to entry %d", len(want))) {
		t.Fatalf("mark past the end: exit %d %s", code, stderr)
	}

	// list points, as a table and as JSON.
	code, stdout, _ = walship(t, "list", storeDir, "points")
	if code != 0 || !strings.Contains(stdout, "before-upgrade") || !strings.Contains(stdout, "400") || !strings.Contains(stdout, "latest") {
		t.Fatalf("list points: %d\n%s", code, stdout)
	}
	code, stdout, _ = walship(t, "list", storeDir, "points", "--json")
	var pts []segments.Point
	if code != 0 || json.Unmarshal([]byte(stdout), &pts) != nil || len(pts) != 2 || pts[0].Name != "before-upgrade" || pts[0].Index != 400 || !pts[0].Pinned || pts[1].Index != uint64(len(want)) {
		t.Fatalf("list points --json: %d %+v\n%s", code, pts, stdout)
	}
	// list snapshots.
	code, stdout, _ = walship(t, "list", storeDir, "snapshots")
	if code != 0 || !strings.Contains(stdout, m.Key()) || !strings.Contains(stdout, "300") {
		t.Fatalf("list snapshots: %d\n%s", code, stdout)
	}
	code, stdout, _ = walship(t, "list", storeDir, "snapshots", "--json")
	var snaps []pitr.SnapshotInfo
	if code != 0 || json.Unmarshal([]byte(stdout), &snaps) != nil || len(snaps) != 1 || snaps[0].Key != m.Key() || snaps[0].Files != 3 || snaps[0].Index != 300 {
		t.Fatalf("list snapshots --json: %d %+v\n%s", code, snaps, stdout)
	}

	// Dry run: the base, the estimate, nothing written.
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr = walship(t, "restore", storeDir, out, "--point", "before-upgrade", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "base:      "+m.Key()) || !strings.Contains(stdout, "entries:   301..400") || !strings.Contains(stdout, "estimate:") {
		t.Fatalf("dry run: %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("dry run wrote OUT_DIR")
	}
	// The restore: base files into OUT_DIR/data, entries 301..400 into OUT_DIR/wal.
	code, stdout, stderr = walship(t, "restore", storeDir, out, "--point", "before-upgrade")
	if code != 0 || !strings.Contains(stdout, "restored base snapshot "+m.Key()) {
		t.Fatalf("restore --point: %d\n%s%s", code, stdout, stderr)
	}
	sameFiles(t, filepath.Join(out, "data"), dataSrc)
	compareFrom(t, filepath.Join(out, "wal"), want, 301, 400)
	// --data-dir elsewhere; --no-base replays from entry 1.
	out2, dd := filepath.Join(t.TempDir(), "o"), filepath.Join(t.TempDir(), "d")
	if code, _, stderr := walship(t, "restore", storeDir, out2, "--point", "latest", "--data-dir", dd); code != 0 {
		t.Fatalf("restore --data-dir: %s", stderr)
	}
	sameFiles(t, dd, dataSrc)
	compareFrom(t, filepath.Join(out2, "wal"), want, 301, uint64(len(want)))
	out3 := filepath.Join(t.TempDir(), "o")
	if code, _, stderr := walship(t, "restore", storeDir, out3, "--point", "before-upgrade", "--no-base"); code != 0 {
		t.Fatalf("restore --no-base: %s", stderr)
	}
	compareRestored(t, filepath.Join(out3, "wal"), want[:400])
	if _, err := os.Stat(filepath.Join(out3, "data")); !os.IsNotExist(err) {
		t.Fatal("--no-base wrote a data dir")
	}
	// A point that is not there: the error lists those that are.
	code, _, stderr = walship(t, "restore", storeDir, filepath.Join(t.TempDir(), "o"), "--point", "nope")
	if code != 1 || !strings.Contains(stderr, "existing points: before-upgrade, latest") {
		t.Fatalf("missing point: %d %s", code, stderr)
	}

	// verify sees the snapshot, its chunks and the points.
	code, stdout, _ = walship(t, "verify", storeDir)
	if code != 0 || !strings.Contains(stdout, "1 snapshots") || !strings.Contains(stdout, "2 restore points") {
		t.Fatalf("verify: %d\n%s", code, stdout)
	}

	// delete.
	if code, _, stderr := walship(t, "mark", storeDir, "--delete", "latest"); code != 0 {
		t.Fatalf("delete: %s", stderr)
	}
	if code, _, stderr := walship(t, "mark", storeDir, "--delete", "latest"); code != 1 || !strings.Contains(stderr, "no restore point") {
		t.Fatalf("delete twice: %d %s", code, stderr)
	}
	if _, stdout, _ := walship(t, "list", storeDir, "points"); strings.Contains(stdout, "latest") {
		t.Fatalf("deleted point listed:\n%s", stdout)
	}

	// --config: the point goes to every store, and only if each has the entry.
	second := filepath.Join(t.TempDir(), "second")
	if code, stdout, stderr := walship(t, "copy", storeDir, second); code != 0 {
		t.Fatalf("copy: %s%s", stdout, stderr)
	}
	cfg := filepath.Join(t.TempDir(), "walship.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("stores:\n  - {name: one, url: \"file://%s\"}\n  - {name: two, url: \"file://%s\"}\n", storeDir, second)), 0o644)
	code, stdout, stderr = walship(t, "mark", "--config", cfg, "both", "--index", "500")
	if code != 0 || !strings.Contains(stdout, "in one, two") {
		t.Fatalf("mark --config: %d\n%s%s", code, stdout, stderr)
	}
	for _, dir := range []string{storeDir, second} {
		if _, err := os.Stat(filepath.Join(dir, "points", "both.json")); err != nil {
			t.Fatalf("point not in %s: %v", dir, err)
		}
	}
	code, _, stderr = walship(t, "mark", "--config", cfg, "both", "--index", "10")
	if code != 1 || !strings.Contains(stderr, "pick another name") {
		t.Fatalf("duplicate mark --config: %d %s", code, stderr)
	}
	// A store that lacks the entry: named, and nothing written anywhere.
	segs, _ := filepath.Glob(filepath.Join(second, "segments", "*", "*.wseg"))
	last := segs[len(segs)-1]
	os.Remove(last)
	code, _, stderr = walship(t, "mark", "--config", cfg, "end")
	if code != 1 || !strings.Contains(stderr, "in two") || !strings.Contains(stderr, "not shipped there yet") {
		t.Fatalf("mark with a lagging store: %d %s", code, stderr)
	}
	for _, dir := range []string{storeDir, second} {
		if _, err := os.Stat(filepath.Join(dir, "points", "end.json")); !os.IsNotExist(err) {
			t.Fatalf("refused mark wrote to %s", dir)
		}
	}
	// restore --config --point reads the point through the union.
	out4 := filepath.Join(t.TempDir(), "o")
	if code, _, stderr := walship(t, "restore", "--config", cfg, out4, "--point", "both"); code != 0 {
		t.Fatalf("restore --config --point: %s", stderr)
	}
	compareFrom(t, filepath.Join(out4, "wal"), want, 301, 500)
}
