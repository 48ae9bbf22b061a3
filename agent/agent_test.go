package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

func TestReplicateRestore(t *testing.T) {
	for _, f := range []struct {
		name   string
		format tidwal.LogFormat
	}{{"binary", tidwal.Binary}, {"json", tidwal.JSON}} {
		t.Run(f.name, func(t *testing.T) {
			src := newSource(t, f.format)
			st, err := file.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			src.write(300, "a")
			r := startAgent(t, src.dir, "", st)
			src.write(700, "b")
			r.waitShipped(t, 1, 1000)
			r.halt(t)
			restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 1000)
			restoreAndCompare(t, st, pitr.Target{Index: 437}, src.want, 1, 437)
			// Restart resumes exactly: no duplicate, no gap.
			r = startAgent(t, src.dir, "", st)
			src.write(100, "c")
			r.waitShipped(t, 1, 1100)
			r.halt(t)
			restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 1100)
			rep, err := pitr.Verify(context.Background(), st)
			if err != nil || len(rep.Damaged)+len(rep.Gaps) != 0 {
				t.Fatalf("verify: %+v %v", rep, err)
			}
			// The source was only read.
			if _, err := os.Stat(src.dir + ".walship/state.json"); err != nil {
				t.Fatalf("state not in the sibling dir: %v", err)
			}
		})
	}
}

// TruncateFront behind the agent's position changes nothing.
func TestTruncateFrontAfterShipping(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	src.write(500, "a")
	r := startAgent(t, src.dir, "", st)
	r.waitShipped(t, 1, 500)
	if err := src.log.TruncateFront(400); err != nil {
		t.Fatal(err)
	}
	src.write(200, "b")
	r.waitShipped(t, 1, 700)
	r.halt(t)
	// Restart after the truncation too.
	r = startAgent(t, src.dir, "", st)
	src.write(10, "c")
	r.waitShipped(t, 1, 710)
	if tl := r.a.Status().Timeline; tl != 1 {
		t.Fatalf("timeline %d after a harmless TruncateFront, want 1", tl)
	}
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 710)
}

// TruncateFront past what the agent read while it was down: a new timeline
// with a recorded gap; the restore of it is the log as the source now has it.
func TestTruncateFrontBeforeShipping(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	state := filepath.Join(t.TempDir(), "state")
	src.write(300, "a")
	r := startAgent(t, src.dir, state, st)
	r.waitShipped(t, 1, 300)
	r.halt(t)
	old := copyMap(src.want)
	src.write(300, "b") // 301..600, never read by the agent
	if err := src.log.TruncateFront(450); err != nil {
		t.Fatal(err)
	}
	r = startAgent(t, src.dir, state, st)
	src.write(50, "c")
	r.waitShipped(t, 2, 650)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 450, 650)
	restoreAndCompare(t, st, pitr.Target{Timeline: 1}, old, 1, 300)
	// The source no longer holds any entry walship sealed, so it cannot show
	// whether they were rewritten before the truncation: the new timeline
	// claims none of them, and a target before its start is refused (the
	// old history stays restorable as timeline 1, above).
	for _, idx := range []uint64{400, 200} {
		_, _, err := pitr.Restore(context.Background(), st, pitr.Target{Index: idx}, t.TempDir(), pitr.Options{})
		if !errors.Is(err, pitr.ErrNotRestorable) || !strings.Contains(err.Error(), "450") || !strings.Contains(err.Error(), "--timeline 1") {
			t.Fatalf("restore of %d before the new timeline: %v, want a refusal naming its first entry and the old timeline", idx, err)
		}
	}
	tls, err := pitr.ListTimelines(context.Background(), st)
	if err != nil || len(tls) != 2 || !tls[1].HasGap() || tls[1].ForkIndex != 0 || tls[1].StartIndex != 450 {
		t.Fatalf("timelines %+v %v", tls, err)
	}
}

// TruncateBack over shipped entries, live and while the agent is down: a
// new timeline forks at the last entry both histories share.
func TestTruncateBackOverShipped(t *testing.T) {
	for _, live := range []bool{true, false} {
		name := "down"
		if live {
			name = "live"
		}
		t.Run(name, func(t *testing.T) {
			src := newSource(t, tidwal.JSON)
			st := mem.New()
			state := filepath.Join(t.TempDir(), "state")
			src.write(800, "a")
			r := startAgent(t, src.dir, state, st)
			r.waitShipped(t, 1, 800)
			old := copyMap(src.want)
			if !live {
				r.halt(t)
			}
			if err := src.log.TruncateBack(650); err != nil {
				t.Fatal(err)
			}
			for i := uint64(651); i <= 800; i++ {
				delete(src.want, i)
			}
			src.write(100, "rewritten") // 651..750, new content
			if !live {
				r = startAgent(t, src.dir, state, st)
			}
			r.waitShipped(t, 2, 750)
			r.halt(t)
			restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 750)
			restoreAndCompare(t, st, pitr.Target{Timeline: 1}, old, 1, 800)
			restoreAndCompare(t, st, pitr.Target{Index: 700}, src.want, 1, 700)
			tls, err := pitr.ListTimelines(context.Background(), st)
			if err != nil || len(tls) != 2 || tls[1].ForkIndex != 650 || tls[1].HasGap() {
				t.Fatalf("timelines %+v %v", tls, err)
			}
		})
	}
}

// A TruncateBack that keeps every sealed entry is no fork.
func TestTruncateBackBeyondSealedNoFork(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	state := filepath.Join(t.TempDir(), "state")
	src.write(200, "a")
	r := startAgent(t, src.dir, state, st)
	r.waitShipped(t, 1, 200)
	r.halt(t)
	src.write(50, "b")
	if err := src.log.TruncateBack(220); err != nil {
		t.Fatal(err)
	}
	for i := uint64(221); i <= 250; i++ {
		delete(src.want, i)
	}
	src.write(10, "c")
	r = startAgent(t, src.dir, state, st)
	r.waitShipped(t, 1, 230)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 230)
}

func TestBadInput(t *testing.T) {
	st := mem.New()
	if _, err := New(Options{WALDir: t.TempDir(), Stores: []Store{{Store: st}}}); err == nil ||
		!strings.Contains(err.Error(), "tidwall") {
		t.Fatalf("empty dir: %v", err)
	}
	src := newSource(t, tidwal.Binary)
	src.write(5, "a")
	if _, err := New(Options{WALDir: src.dir, StateDir: filepath.Join(src.dir, "state"), Stores: []Store{{Store: st}}}); err == nil ||
		!strings.Contains(err.Error(), "inside the WAL dir") {
		t.Fatalf("state inside source: %v", err)
	}
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o500)
	if os.Getuid() != 0 { // root writes anywhere
		if _, err := New(Options{WALDir: src.dir, StateDir: filepath.Join(ro, "state"), Stores: []Store{{Store: st}}}); err == nil {
			t.Fatal("unwritable state dir accepted")
		}
	}
	// A second agent on the same state dir is refused.
	state := filepath.Join(t.TempDir(), "state")
	a, err := New(Options{WALDir: src.dir, StateDir: state, Stores: []Store{{Store: st}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := New(Options{WALDir: src.dir, StateDir: state, Stores: []Store{{Store: st}}}); err == nil ||
		!strings.Contains(err.Error(), "in use") {
		t.Fatalf("second agent: %v", err)
	}
}

// A fresh state dir never writes over an existing backup.
func TestRefusesUsedStore(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	src.write(10, "a")
	r := startAgent(t, src.dir, filepath.Join(t.TempDir(), "s1"), st)
	r.waitShipped(t, 1, 10)
	r.halt(t)
	a, err := New(Options{WALDir: src.dir, StateDir: filepath.Join(t.TempDir(), "s2"), Stores: []Store{{Store: st}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "already holds a walship backup") {
		t.Fatalf("run on a used store: %v", err)
	}
	_ = errors.New
	_ = segments.Magic
}
