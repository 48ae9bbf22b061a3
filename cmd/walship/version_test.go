package main

import (
	"encoding/json"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/walship/walship/lease"
	"github.com/walship/walship/segments"
)

func TestVersionJSON(t *testing.T) {
	code, out, stderr := walship(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Version == "" || !strings.HasPrefix(v.Go, "go") || v.Problem != "" {
		t.Fatalf("version %+v", v)
	}
	// The versions come from the packages: compare with their constants.
	want := map[string]int{"segment": segments.Version1, "chunk": segments.ChunkVersion1,
		"snapshot": segments.SnapshotVersion1, "timeline": 1, "restore point": 1, "lease": lease.Version}
	for _, f := range v.Formats {
		w, ok := want[f.Object]
		if !ok || f.Writes != w || !slices.Contains(f.Reads, w) || slices.Contains(f.Reads, maxProbedVersion) {
			t.Errorf("format %+v: want writes %d and reads it (known object: %v)", f, w, ok)
		}
		delete(want, f.Object)
	}
	if len(want) > 0 {
		t.Errorf("formats missing: %v", want)
	}
}

func TestVersionText(t *testing.T) {
	code, out, _ := walship(t, "version")
	if code != 0 || !strings.HasPrefix(out, "walship ") || !strings.Contains(out, "segment         writes 1; reads 1") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if code, _, _ := walship(t, "version", "extra"); code != 2 {
		t.Fatalf("an argument: exit %d, want 2", code)
	}
}

func TestVersionOfBuildInfo(t *testing.T) {
	v := versionOf(&debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}}})
	if v.Version != "v1.2.3" || v.Commit != "abc123" || !v.Modified || v.Go != "go1.99" || v.Time == "" {
		t.Fatalf("%+v", v)
	}
	var b strings.Builder
	if err := v.print(&b); err != nil || !strings.Contains(b.String(), "abc123 (modified)") {
		t.Fatalf("%q %v", b.String(), err)
	}
	if v := versionOf(nil); v.Version != "(devel)" || v.Commit != "" || v.Modified {
		t.Fatalf("no build info: %+v", v)
	}
}
