package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/snapshot"
)

// checkpointer plays the database's side of base snapshots: a data dir
// holding "index" and "entries" (every entry <= index, length-prefixed),
// copied into a checkpoint dir that latest.json names.
type checkpointer struct {
	t    *testing.T
	root string
}

func (c *checkpointer) dataFor(src *source, index uint64) []byte {
	var b []byte
	for i := uint64(1); i <= index; i++ {
		if d, ok := src.want[i]; ok {
			b = binary.AppendUvarint(b, i)
			b = binary.AppendUvarint(b, uint64(len(d)))
			b = append(b, d...)
		}
	}
	return b
}

func (c *checkpointer) checkpoint(src *source, index uint64) string {
	dir := filepath.Join(c.root, fmt.Sprintf("ckpt-%d", index))
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "index"), []byte(strconv.FormatUint(index, 10)), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "entries"), c.dataFor(src, index), 0o600)
	b, _ := json.Marshal(map[string]any{"dir": dir, "index": index})
	os.WriteFile(filepath.Join(c.root, "latest.json.tmp"), b, 0o644)
	os.Rename(filepath.Join(c.root, "latest.json.tmp"), filepath.Join(c.root, "latest.json"))
	return dir
}

// restoreWithBase restores target and checks that the base data holds
// exactly the entries up to its index and the WAL exactly the rest.
func restoreWithBase(t *testing.T, st backends.Store, c *checkpointer, src *source, target pitr.Target, want uint64) uint64 {
	t.Helper()
	out := t.TempDir()
	if _, _, err := pitr.Restore(context.Background(), st, target, out, pitr.Options{}); err != nil {
		t.Fatalf("restore %+v: %v", target, err)
	}
	base := uint64(0)
	if b, err := os.ReadFile(filepath.Join(out, "data", "index")); err == nil {
		base, _ = strconv.ParseUint(string(b), 10, 64)
		got, _ := os.ReadFile(filepath.Join(out, "data", "sub", "entries"))
		if !bytes.Equal(got, c.dataFor(src, base)) {
			t.Fatalf("restore %+v: base data at %d differs from the checkpoint", target, base)
		}
	}
	if base < want {
		compareLog(t, filepath.Join(out, "wal"), src.want, base+1, want)
	}
	return base
}

// Random targets across several bases and segments: base data + replayed
// WAL equals the database at that target.
func TestSnapshotsAcrossBases(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	c := &checkpointer{t: t, root: t.TempDir()}
	r := startWith(t, src.dir, func(o *Options) {
		o.Snapshot = SnapshotOptions{Command: []string{"cat", filepath.Join(c.root, "latest.json")}, RetryAfter: 10 * time.Millisecond}
	}, st)
	var bases []uint64
	for k := 0; k < 5; k++ {
		src.write(300, fmt.Sprint(k))
		idx := src.last() - 100 // the database's checkpoint lags its log
		if k%2 == 0 {
			c.checkpoint(src, idx)
			m, err := r.a.TakeSnapshot(context.Background())
			if err != nil || m.Index != idx {
				t.Fatalf("command snapshot: %+v %v", m, err)
			}
		} else { // the Go API
			m, err := r.a.SnapshotFrom(context.Background(), c.checkpoint(src, idx), idx)
			if err != nil || m.Index != idx {
				t.Fatalf("api snapshot: %+v %v", m, err)
			}
		}
		bases = append(bases, idx)
	}
	r.waitShipped(t, 1, 1500)
	r.halt(t)
	infos, err := snapshot.List(context.Background(), st)
	if err != nil || len(infos) != 5 {
		t.Fatalf("bases in store: %d %v", len(infos), err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < 12; k++ {
		target := 1 + rng.Uint64N(1500)
		base := restoreWithBase(t, st, c, src, pitr.Target{Index: target}, target)
		wantBase := uint64(0)
		for _, b := range bases {
			if b <= target {
				wantBase = b
			}
		}
		if base != wantBase {
			t.Fatalf("target %d restored from base %d, want the newest base at or before it, %d", target, base, wantBase)
		}
	}
	restoreWithBase(t, st, c, src, pitr.Target{Latest: true}, 1500)
}

// A TruncateFront past the agent's position starts a gap timeline and the
// agent takes a base at once; with it, restoring the new timeline gives the
// database's data and WAL exactly.
func TestSnapshotAfterGap(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	c := &checkpointer{t: t, root: t.TempDir()}
	state := filepath.Join(t.TempDir(), "state")
	snap := func(o *Options) {
		o.StateDir = state
		o.Snapshot = SnapshotOptions{Command: []string{"cat", filepath.Join(c.root, "latest.json")}, RetryAfter: 10 * time.Millisecond}
	}
	src.write(200, "a")
	r := startWith(t, src.dir, snap, st)
	r.waitShipped(t, 1, 200)
	r.halt(t)
	src.write(300, "b")
	if err := src.log.TruncateFront(450); err != nil {
		t.Fatal(err)
	}
	c.checkpoint(src, 480)
	src.write(30, "c") // 501..530
	r = startWith(t, src.dir, snap, st)
	r.waitShipped(t, 2, 530)
	waitFor(t, "base after the gap", func() bool {
		infos, _ := snapshot.List(context.Background(), st)
		return len(infos) == 1
	})
	r.halt(t)
	if base := restoreWithBase(t, st, c, src, pitr.Target{Latest: true}, 530); base != 480 {
		t.Fatalf("restore after the gap used base %d, want 480", base)
	}
}

// after_wal_bytes takes a base once enough WAL was sealed.
func TestSnapshotAfterWALBytes(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	c := &checkpointer{t: t, root: t.TempDir()}
	src.write(10, "a")
	c.checkpoint(src, 10)
	r := startWith(t, src.dir, func(o *Options) {
		o.Snapshot = SnapshotOptions{Command: []string{"cat", filepath.Join(c.root, "latest.json")}, AfterWALBytes: 64 << 10}
	}, st)
	r.waitShipped(t, 1, 10)
	time.Sleep(1500 * time.Millisecond) // the trigger is checked every second: nothing due yet
	if infos, _ := snapshot.List(context.Background(), st); len(infos) != 0 {
		t.Fatalf("%d bases before after_wal_bytes was reached", len(infos))
	}
	src.write(600, "b") // ~180 KiB
	waitFor(t, "after_wal_bytes snapshot", func() bool {
		infos, _ := snapshot.List(context.Background(), st)
		return len(infos) >= 1
	})
}

// An interval snapshot with nothing sealed since the last base is skipped:
// an idle agent takes no base and makes no request. Once entries are
// sealed, the next interval takes one.
func TestSnapshotIntervalSkipsWhenIdle(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := metered.New(mem.New())
	c := &checkpointer{t: t, root: t.TempDir()}
	src.write(10, "a")
	c.checkpoint(src, 10)
	r := startWith(t, src.dir, func(o *Options) {
		o.Snapshot = SnapshotOptions{Command: []string{"cat", filepath.Join(c.root, "latest.json")}, Interval: 300 * time.Millisecond}
	}, st)
	bases := func() int {
		infos, err := snapshot.List(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		return len(infos)
	}
	waitFor(t, "the first interval snapshot", func() bool { return bases() >= 1 })
	time.Sleep(1200 * time.Millisecond) // the snapshot's own writes settle
	before := st.Counts()
	time.Sleep(2500 * time.Millisecond) // several intervals, nothing written
	if idle := st.Counts().Sub(before); idle.Calls() != 0 || bases() != 1 {
		t.Fatalf("idle with an interval of 300ms: %d bases, %s; want 1 base and no request", bases(), idle)
	}
	src.write(20, "b")
	c.checkpoint(src, 30)
	waitFor(t, "an interval snapshot after new entries", func() bool { return bases() >= 2 })
	r.halt(t)
	if base := restoreWithBase(t, st, c, src, pitr.Target{Latest: true}, 30); base != 30 {
		t.Fatalf("restore used base %d, want 30", base)
	}
}
