package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	tidwal "github.com/tidwall/wal"
)

// TestRestoreAsCLI: restore --as json of a binary-source store (golden v1,
// and the encrypted v2 one with its identity) writes a JSON log tidwall
// reads with the same entries as the binary restore of the same store.
func TestRestoreAsCLI(t *testing.T) {
	captureLogs(t)
	keyA, _ := keyFile(t, goldenIDA, 0o600)
	for _, c := range []struct {
		name, src string
		extra     []string
	}{{"v1", "../../testdata/golden-v1", nil}, {"v2 encrypted", goldenEncrypted, []string{"--identity", keyA}}} {
		t.Run(c.name, func(t *testing.T) {
			st := copyStore(t, c.src)
			root := t.TempDir()
			bin, js := filepath.Join(root, "bin"), filepath.Join(root, "json")
			if code, _, stderr := walship(t, append([]string{"restore", st, bin}, c.extra...)...); code != 0 {
				t.Fatalf("restore: %d %s", code, stderr)
			}
			code, stdout, stderr := walship(t, append([]string{"restore", st, js, "--as", "json", "--json"}, c.extra...)...)
			var sum restoreSummary
			if code != 0 || json.Unmarshal([]byte(stdout), &sum) != nil || sum.Format != "json" || sum.Entries != 320 {
				t.Fatalf("restore --as json: %d %+v\n%s\n%s", code, sum, stdout, stderr)
			}
			want := readAll(t, filepath.Join(bin, "wal"), tidwal.Binary)
			got := readAll(t, filepath.Join(js, "wal"), tidwal.JSON)
			if len(want) != 320 || len(got) != len(want) {
				t.Fatalf("binary restore holds %d entries, JSON %d", len(want), len(got))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("entry %d: %q as JSON, %q as binary", i+1, got[i], want[i])
				}
			}
		})
	}
	code, stdout, stderr := walship(t, "restore", copyStore(t, "../../testdata/golden-v1"), filepath.Join(t.TempDir(), "o"), "--as", "json", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "written as: tidwall/wal json") {
		t.Fatalf("restore --as json --dry-run: %d\n%s\n%s", code, stdout, stderr)
	}
}

// readAll reads every entry of a tidwall/wal log.
func readAll(t *testing.T, dir string, format tidwal.LogFormat) [][]byte {
	t.Helper()
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: format})
	if err != nil {
		t.Fatalf("tidwall Open %s: %v", dir, err)
	}
	defer l.Close()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	var out [][]byte
	for i := first; i <= last && first > 0; i++ {
		b, err := l.Read(i)
		if err != nil {
			t.Fatalf("tidwall Read(%d): %v", i, err)
		}
		out = append(out, b)
	}
	return out
}
