package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
)

// waitTimeline waits until the agent has recorded timeline tl.
func (r *running) waitTimeline(t *testing.T, tl uint32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.a.Status().Timeline < tl {
		if time.Now().After(deadline) {
			t.Fatalf("timeline %d not started within 30s: %+v", tl, r.a.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shipStop writes n entries to a new source, ships them to a new mem store
// with an agent on a new state dir, and stops the agent.
func shipStop(t *testing.T, format tidwal.LogFormat, n int) (*source, *mem.Store, string) {
	t.Helper()
	src := newSource(t, format)
	st := mem.New()
	state := filepath.Join(t.TempDir(), "state")
	src.write(n, "a")
	r := startAgent(t, src.dir, state, st)
	r.waitShipped(t, 1, uint64(n))
	r.halt(t)
	return src, st, state
}

func (s *source) truncateBack(t *testing.T, last uint64) {
	t.Helper()
	if err := s.log.TruncateBack(last); err != nil {
		t.Fatal(err)
	}
	for i := range s.want {
		if i > last {
			delete(s.want, i)
		}
	}
}

// Two TruncateBacks while the agent is down, the first one seen by a start
// that sealed nothing on its new timeline: the second fork is below the
// current timeline's start and must still be found.
func TestSecondTruncateBackWhileStopped(t *testing.T) {
	src, st, state := shipStop(t, tidwal.JSON, 100)

	src.truncateBack(t, 80)
	r := startAgent(t, src.dir, state, st)
	r.waitTimeline(t, 2) // fork 80 recorded, nothing sealed on it
	r.halt(t)

	src.truncateBack(t, 70)
	src.write(20, "b") // new 71..90
	r = startAgent(t, src.dir, state, st)
	r.waitShipped(t, 3, 90)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 90)
	restoreAndCompare(t, st, pitr.Target{Index: 75}, src.want, 1, 75)
}

// A rewrite whose first new entries are byte-identical to the old ones,
// across source segment files: the first difference is not where the
// rewrite began, and the entries before it must still be compared.
func TestRewriteWithIdenticalEntriesWhileStopped(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	state := filepath.Join(t.TempDir(), "state")
	src.write(400, "a") // 16 KiB source segments: several files
	r := startAgent(t, src.dir, state, st)
	r.waitShipped(t, 1, 400)
	r.halt(t)

	old := copyMap(src.want)
	src.truncateBack(t, 100)
	for i := uint64(101); i <= 400; i++ {
		d := old[i] // the same bytes up to 300 ...
		if i == 120 || i > 300 {
			d = src.entry(i, "b") // ... but 120 and everything after 300 differ
		}
		if err := src.log.Write(i, d); err != nil {
			t.Fatal(err)
		}
		src.want[i] = d
	}
	r = startAgent(t, src.dir, state, st)
	r.waitShipped(t, 2, 400)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 400)
	tls, err := pitr.ListTimelines(context.Background(), st)
	if err != nil || len(tls) != 2 || tls[1].ForkIndex != 119 {
		t.Fatalf("want timeline 2 forked at 119, got %+v %v", tls, err)
	}
}

// A rewrite and then a TruncateFront past its start, while the agent is
// down: the source's first entry already differs and the entries before it
// are gone, so nothing shows where the history forked. The new timeline
// claims none of them: what the source holds restores exactly, an index
// before it is refused, never answered with the old entries.
func TestRewriteThenTruncateFrontWhileStopped(t *testing.T) {
	src, st, state := shipStop(t, tidwal.Binary, 300)

	src.truncateBack(t, 150)
	src.write(150, "b") // new 151..300
	if err := src.log.TruncateFront(201); err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, src.dir, state, st)
	r.waitShipped(t, 2, 300)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 201, 300)
	_, _, err := pitr.Restore(context.Background(), st, pitr.Target{Index: 175}, t.TempDir(), pitr.Options{})
	if !errors.Is(err, pitr.ErrNotRestorable) {
		t.Fatalf("restore of entry 175 on the new history: want a refusal, got %v", err)
	}
}

// A state.json that is gone while the spool still holds segments: the
// fresh state must not adopt them (it cannot prove what lies between).
func TestFreshStateRefusesLeftoverSpool(t *testing.T) {
	src, _, state := shipStop(t, tidwal.Binary, 50)
	// A segment left in the spool, as by a crash or a partial cleanup.
	spoolDir := filepath.Join(state, "spool")
	name := "00000001-00000000000000000051-00000000000000000060-00000000000000000001.wseg"
	if err := os.WriteFile(filepath.Join(spoolDir, name), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(state, "state.json")); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{WALDir: src.dir, StateDir: state, Stores: []Store{{Store: mem.New()}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Move the whole state dir away") {
		t.Fatalf("want a refusal that says what to do, got %v", err)
	}
	if _, serr := os.Stat(filepath.Join(state, "state.json")); serr == nil {
		t.Fatal("the refused start wrote a state.json")
	}
}

// A damaged state.json: the error's advice (move the whole state dir away,
// start with an empty one and a fresh prefix) leads to a correct backup,
// and the old prefix stays restorable.
func TestDamagedStateAdviceLeadsToACorrectBackup(t *testing.T) {
	src, old, state := shipStop(t, tidwal.Binary, 80)
	if err := os.WriteFile(filepath.Join(state, "state.json"), []byte("{damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{WALDir: src.dir, StateDir: state, Stores: []Store{{Store: old}}, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "move the whole state dir") || !strings.Contains(err.Error(), "fresh store prefix") {
		t.Fatalf("want advice, got %v", err)
	}
	// Follow it.
	if err := os.Rename(state, state+".damaged"); err != nil {
		t.Fatal(err)
	}
	src.write(20, "b")
	fresh := mem.New()
	r := startAgent(t, src.dir, state, fresh)
	r.waitShipped(t, 1, 100)
	r.halt(t)
	restoreAndCompare(t, fresh, pitr.Target{Latest: true}, src.want, 1, 100)
	restoreAndCompare(t, old, pitr.Target{Latest: true}, src.want, 1, 80)
}

// Found by the fault checker (seed 20261130, run 3): killed after shipping,
// TruncateBack(10) and new entries, then a TruncateFront past everything
// walship had sealed, all while it was stopped. The source shows nothing of
// the rewrite, so the new timeline must claim no old entry: a time or index
// target before its start is refused, never answered with the old entry 11.
func TestTruncateFrontPastSealedAfterRewriteWhileStopped(t *testing.T) {
	src, st, state := shipStop(t, tidwal.JSON, 16)
	old := copyMap(src.want)
	src.truncateBack(t, 10)
	src.write(24, "b") // new 11..34
	if err := src.log.TruncateFront(32); err != nil {
		t.Fatal(err)
	}
	beforeNew := time.Now() // every old entry was observed before this, every new one after
	time.Sleep(20 * time.Millisecond)
	r := startAgent(t, src.dir, state, st)
	r.waitShipped(t, 2, 34)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 32, 34)
	restoreAndCompare(t, st, pitr.Target{Timeline: 1}, old, 1, 16)
	for _, target := range []pitr.Target{{Index: 11}, {Time: beforeNew}} {
		_, _, err := pitr.Restore(context.Background(), st, target, t.TempDir(), pitr.Options{})
		if err == nil {
			t.Fatalf("restore %+v on the new history answered; the source shows nothing before entry 32", target)
		}
	}
}
