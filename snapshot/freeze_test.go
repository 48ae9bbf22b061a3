package snapshot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// freezeSetup makes a data dir and a state dir beside it (one filesystem).
func freezeSetup(t *testing.T) (data, state, events string) {
	t.Helper()
	tmp := t.TempDir()
	data, state, events = filepath.Join(tmp, "data"), filepath.Join(tmp, "state"), filepath.Join(tmp, "events")
	for i, n := range []string{"a.sst", "b.sst", "c.sst"} {
		writeFile(t, filepath.Join(data, "lsm", n), randBytes(uint64(i), 50000+i*1000), 0o640)
	}
	writeFile(t, filepath.Join(data, "MANIFEST"), []byte("manifest v1"), 0o600)
	symlink(t, "MANIFEST", filepath.Join(data, "CURRENT"))
	mkdir(t, filepath.Join(data, "empty"), 0o700)
	return data, state, events
}

func TestFreezeSnapshot(t *testing.T) {
	eachStore(t, func(t *testing.T, ts testStore) {
		ctx := context.Background()
		data, state, events := freezeSetup(t)
		logEvent := func(what string) []string { return []string{"sh", "-c", `echo ` + what + ` >> "` + events + `"`} }
		var sawAtIndex string
		f := snapshot.Freeze{
			DataDir: data, StateDir: state,
			FreezeCmd: logEvent("freeze"), ThawCmd: logEvent("thaw"),
			Index: func() uint64 {
				b, _ := os.ReadFile(events)
				sawAtIndex = strings.Join(strings.Fields(string(b)), ",")
				return 42
			},
		}
		// A stale staging dir from a crashed run is cleaned up.
		mkdir(t, filepath.Join(state, "snapshot-staging-old"), 0o700)
		writeFile(t, filepath.Join(state, "snapshot-staging-old", "junk"), []byte("x"), 0o600)
		m, stats, err := f.Snapshot(ctx, ts.st, opts())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(events)
		if sawAtIndex != "freeze" || strings.Join(strings.Fields(string(b)), ",") != "freeze,thaw" {
			t.Fatalf("Index saw events %q, all events %q; want Index between freeze and thaw", sawAtIndex, b)
		}
		if m.Index != 42 || m.Source.Method != segments.MethodFreeze || stats.Files != 4 || stats.Symlinks != 1 {
			t.Fatalf("manifest %+v stats %+v", m, stats)
		}
		onlyEntries(t, state) // staging removed, the old one too
		fi, err := os.Stat(filepath.Join(data, "lsm", "a.sst"))
		if err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
			t.Fatalf("source file still has extra links: %v", err)
		}
		out := filepath.Join(t.TempDir(), "restored")
		if err := snapshot.RestoreFiles(ctx, ts.st, m, out); err != nil {
			t.Fatal(err)
		}
		sameTree(t, data, out)
	})
}

func TestFreezeDetectsInPlaceModification(t *testing.T) {
	cases := []struct {
		name   string
		modify func(t *testing.T, path string)
		msg    string
	}{
		{"append", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("new record"))
			f.Close()
		}, "size"},
		{"overwrite in place, same size", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("PAGE"), 100)
			f.Close()
			// A write sets the mtime; make sure it differs from the linked
			// one even on a coarse clock.
			fi, _ := os.Stat(p)
			os.Chtimes(p, time.Time{}, fi.ModTime().Add(time.Millisecond))
		}, "modification time"},
		{"truncate", func(t *testing.T, p string) { os.Truncate(p, 10) }, "size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := mem.New()
			data, state, _ := freezeSetup(t)
			o := opts()
			snapshot.SetAfterLink(&o, func(staging string) {
				if _, err := os.Stat(filepath.Join(staging, "lsm", "b.sst")); err != nil {
					t.Errorf("staging copy missing: %v", err)
				}
				c.modify(t, filepath.Join(data, "lsm", "b.sst"))
			})
			f := snapshot.Freeze{DataDir: data, StateDir: state, Index: func() uint64 { return 7 }}
			_, _, err := f.Snapshot(context.Background(), st, o)
			if !errors.Is(err, snapshot.ErrModifiedDuringSnapshot) || !strings.Contains(err.Error(), "lsm/b.sst") || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %v, want ErrModifiedDuringSnapshot naming lsm/b.sst and %q", err, c.msg)
			}
			noManifest(t, st)
			onlyEntries(t, state)
		})
	}
}

func TestFreezeToleratesReplaceByRename(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	data, state, _ := freezeSetup(t)
	before := describe(t, data)
	o := opts()
	snapshot.SetAfterLink(&o, func(string) {
		// The database writes a new MANIFEST and renames it over the old
		// one, and deletes an SST: the links keep the old inodes.
		writeFile(t, filepath.Join(data, "MANIFEST.tmp"), []byte("manifest v2, longer"), 0o600)
		if err := os.Rename(filepath.Join(data, "MANIFEST.tmp"), filepath.Join(data, "MANIFEST")); err != nil {
			t.Error(err)
		}
		os.Remove(filepath.Join(data, "lsm", "c.sst"))
	})
	m, _, err := snapshot.Freeze{DataDir: data, StateDir: state, Index: func() uint64 { return 7 }}.Snapshot(ctx, st, o)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "restored")
	if err := snapshot.RestoreFiles(ctx, st, m, out); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, out); len(got) != len(before) || got["MANIFEST"] != before["MANIFEST"] || got["lsm/c.sst"] != before["lsm/c.sst"] {
		t.Fatalf("restored %v, want the tree as frozen %v", got, before)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "MANIFEST")); string(b) != "manifest v1" {
		t.Fatalf("MANIFEST %q, want the frozen content", b)
	}
}

func TestFreezeCommandFailures(t *testing.T) {
	t.Run("freeze fails: thaw still runs", func(t *testing.T) {
		st := mem.New()
		data, state, events := freezeSetup(t)
		f := snapshot.Freeze{DataDir: data, StateDir: state,
			FreezeCmd: []string{"sh", "-c", "echo locked >&2; exit 2"},
			ThawCmd:   []string{"sh", "-c", `echo thaw >> "` + events + `"`},
			Index:     func() uint64 { t.Error("Index called after a failed freeze"); return 0 }}
		_, _, err := f.Snapshot(context.Background(), st, opts())
		if !errors.Is(err, snapshot.ErrCommand) || !strings.Contains(err.Error(), "freeze command") || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("err %v", err)
		}
		if b, _ := os.ReadFile(events); string(b) != "thaw\n" {
			t.Fatalf("thaw did not run after the failed freeze: %q", b)
		}
		noManifest(t, st)
		onlyEntries(t, state)
	})
	t.Run("thaw fails", func(t *testing.T) {
		st := mem.New()
		data, state, _ := freezeSetup(t)
		f := snapshot.Freeze{DataDir: data, StateDir: state, ThawCmd: []string{"false"}, Index: func() uint64 { return 1 }}
		_, _, err := f.Snapshot(context.Background(), st, opts())
		if !errors.Is(err, snapshot.ErrThaw) || !strings.Contains(err.Error(), "may still be frozen") {
			t.Fatalf("err %v", err)
		}
		noManifest(t, st)
		onlyEntries(t, state)
	})
	t.Run("state dir inside the data dir", func(t *testing.T) {
		data, _, _ := freezeSetup(t)
		f := snapshot.Freeze{DataDir: data, StateDir: filepath.Join(data, "walship"), Index: func() uint64 { return 1 }}
		_, _, err := f.Snapshot(context.Background(), mem.New(), opts())
		if err == nil || !strings.Contains(err.Error(), "inside the data dir") {
			t.Fatalf("err %v", err)
		}
	})
}
