package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/compact"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// Compaction's temporary directory (STATE/compact) that cannot be cleared
// at start, because a filesystem is mounted on it (rmdir: busy), holds
// compaction back, not shipping: the agent says so once, ships on, and
// compacts at the first interval after the mount is gone. The store then
// restores byte for byte.
func TestCompactionScratchDirRetried(t *testing.T) {
	state := t.TempDir()
	scratch := filepath.Join(state, "compact")
	if err := os.Mkdir(scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	mnt := mountTmpfs(t, "size=1048576,mode=0700", 0) // a directory with a filesystem on it
	if err := syscall.Mount(mnt, scratch, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount a directory on %s: %v", scratch, err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			syscall.Unmount(scratch, syscall.MNT_DETACH)
		}
	})

	src := newSource(t, tidwal.Binary)
	st := fileStore(t)
	logs := &syncBuffer{}
	r := startWith(t, src.dir, func(o *Options) {
		o.StateDir = state
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		o.Compaction = CompactionOptions{Interval: 100 * time.Millisecond, Options: compact.Options{
			Levels: []time.Duration{time.Second}, Delay: time.Millisecond, Grace: -1}}
	}, st)
	for range 10 {
		src.write(25, "scratch")
		r.waitShipped(t, 1, src.last())
		time.Sleep(40 * time.Millisecond)
	}
	shipped := len(segmentHeaders(t, st))
	if shipped < 6 {
		t.Fatalf("only %d segments shipped: nothing to compact", shipped)
	}
	time.Sleep(time.Second) // ten intervals; the segments are old enough to merge
	if n := len(segmentHeaders(t, st)); n != shipped {
		t.Fatalf("compacted (%d -> %d segments) while its temporary directory could not be cleared", shipped, n)
	}
	const waits = "compaction waits: cannot clear or make its temporary directory"
	if n := strings.Count(logs.String(), waits); n != 1 {
		t.Fatalf("%q logged %d times, want once:\n%s", waits, n, logs.String())
	}

	if err := syscall.Unmount(scratch, 0); err != nil {
		t.Fatalf("unmount %s: %v", scratch, err)
	}
	mounted = false
	deadline := time.Now().Add(20 * time.Second)
	for len(segmentHeaders(t, st)) > shipped/3 {
		if time.Now().After(deadline) {
			t.Fatalf("the store still holds %d of %d segments after the directory came back:\n%s", len(segmentHeaders(t, st)), shipped, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	src.write(25, "after")
	r.waitShipped(t, 1, src.last())
	r.halt(t)
	if fi, err := os.Stat(scratch); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("compaction's directory after the pass: %v, %v", fi, err)
	}
	last := src.last()
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, last)
	restoreAndCompare(t, st, pitr.Target{Index: last / 2}, src.want, 1, last/2)
	for k, h := range segmentHeaders(t, st) {
		if h.Version != segments.Version1 {
			t.Fatalf("%s is version %d", k, h.Version)
		}
	}
}
