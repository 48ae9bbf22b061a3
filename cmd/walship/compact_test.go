package main

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/compact"
	"github.com/walship/walship/pitr"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

func TestCompactUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"compact"}, 2, "want one STORE_URL"},
		{[]string{"compact", dir, dir}, 2, "want one STORE_URL"},
		{[]string{"compact", dir, "--grace", "-1h"}, 2, "--grace -1h"},
		{[]string{"compact", dir, "--grace", "soon"}, 2, "soon"},
		{[]string{"compact", dir, "--store", "x"}, 2, "--store needs --config"},
		{[]string{"compact", "--help"}, 0, ""},
		{[]string{"compact", "--config", filepath.Join(dir, "missing.yml")}, 2, "missing.yml"},
	} {
		code, stdout, stderr := walship(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, want %d; stderr %q, want %q; stdout %q", c.args, code, c.code, stderr, c.msg, stdout)
		}
	}
}

// `walship compact --dry-run` changes nothing; `--grace 0` merges and
// deletes in one run, and every restore stays exact.
func TestCompactCommand(t *testing.T) {
	dir := t.TempDir()
	w, st := pruneWorld(t, dir, 0)
	before := rt.Keys(t, st)
	code, stdout, stderr := walship(t, "compact", "file://"+dir, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would merge") || !strings.Contains(stdout, "dry run") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !maps.Equal(before, rt.Keys(t, st)) {
		t.Fatal("the dry run changed the store")
	}
	code, stdout, stderr = walship(t, "compact", "file://"+dir, "--grace", "0", "--json")
	if code != 0 {
		t.Fatalf("compact: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var res map[string]compact.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res) != 1 {
		t.Fatalf("compact --json: %v\n%s", err, stdout)
	}
	for _, r := range res {
		if r.Outputs == 0 || r.Deleted == 0 || r.Waiting != 0 {
			t.Fatalf("compact --grace 0: %+v, want merges and every input deleted", r)
		}
	}
	segs := 0
	for k := range rt.Keys(t, st) {
		if strings.HasPrefix(k, segments.SegmentsPrefix) {
			segs++
		}
	}
	// 400 entries 10 minutes apart: about 67 hours, one segment each.
	if segs > 70 {
		t.Fatalf("%d segments after compaction", segs)
	}
	for _, tg := range []pitr.Target{{Latest: true}, {Index: 1}, {Index: 137}, {Point: "pinned-250"}, {Time: w.EntryTime(1, 333)}} {
		if _, err := w.Restore(context.Background(), st, tg); err != nil {
			t.Fatalf("restore %s after compaction: %v", tg, err)
		}
	}
	if code, stdout, _ := walship(t, "verify", "file://"+dir); code != 0 {
		t.Fatalf("verify after compaction: exit %d\n%s", code, stdout)
	}
}
