package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVerifySince: --since in the future lists every segment and reads
// none; in the past it reads them all; a bad value is a usage error.
func TestVerifySince(t *testing.T) {
	store, _ := replicateSome(t, 500)
	code, stdout, stderr := walship(t, "verify", store, "--since", "2999-01-01T00:00:00Z")
	if code != 0 || !strings.Contains(stdout, "older than that were listed, not read") || strings.Contains(stdout, " 0 segments and chunks") {
		t.Fatalf("verify --since in the future: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = walship(t, "verify", store, "--since", "1h", "--json")
	if code != 0 {
		t.Fatalf("verify --since 1h: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, `"since":`) || strings.Contains(stdout, `"not_read":`) {
		t.Fatalf("verify --since 1h left segments unread:\n%s", stdout)
	}
	if code, _, stderr := walship(t, "verify", store, "--since", "yesterday"); code != 2 || !strings.Contains(stderr, "--since") {
		t.Fatalf("bad --since: exit %d: %s", code, stderr)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"24h":                  now.Add(-24 * time.Hour),
		"2026-11-30T10:00:00Z": time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseSince("-5m", now); err == nil {
		t.Errorf("parseSince accepted a negative duration")
	}
}

// TestMissingFileStore: commands that read or change a backup refuse a
// file store path that does not exist, create nothing, and say so.
func TestMissingFileStore(t *testing.T) {
	root := t.TempDir()
	missing := filepath.Join(root, "typo")
	for _, args := range [][]string{
		{"verify", missing}, {"list", missing}, {"restore", missing, filepath.Join(root, "out")},
		{"mark", missing, "p1"}, {"prune", missing, "--snapshots", "1"}, {"compact", missing},
	} {
		code, _, stderr := walship(t, args...)
		if code != 1 || !strings.Contains(stderr, "no such directory") {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%v created %s", args, missing)
		}
	}
}
