package retention_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
)

var t0 = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// eachStore runs f on a fresh mem store and a fresh file store.
func eachStore(t *testing.T, f func(t *testing.T, st backends.Store)) {
	t.Run("mem", func(t *testing.T) { f(t, mem.New()) })
	t.Run("file", func(t *testing.T) {
		st, err := file.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, st)
	})
}

func plan(t *testing.T, st backends.Store, p retention.Policy, now time.Time) *retention.PrunePlan {
	t.Helper()
	pl, err := retention.Plan(context.Background(), st, p, now)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// execute carries out pl, and checks that prune and verify agree on what a
// sound store is: a store walship verify passed before the prune passes it
// after (what prune removes on purpose is reported, never as damage).
func execute(t *testing.T, st backends.Store, pl *retention.PrunePlan) retention.Stats {
	t.Helper()
	before, err := pitr.Verify(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	s, err := retention.Execute(context.Background(), st, pl)
	if err != nil {
		t.Fatal(err)
	}
	if s.Deleted() != pl.Count() {
		t.Fatalf("deleted %d objects, the plan lists %d (stats %+v)", s.Deleted(), pl.Count(), s)
	}
	if before.OK() {
		after, err := pitr.Verify(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !after.OK() {
			var b strings.Builder
			after.Describe(&b)
			t.Fatalf("verify passed before the prune and fails after it:\n%s", b.String())
		}
	}
	return s
}

// mustRestore restores tgt and fails on an error or a wrong answer.
func mustRestore(t *testing.T, w *rt.World, st backends.Store, tgt pitr.Target) *pitr.Plan {
	t.Helper()
	p, err := w.Restore(context.Background(), st, tgt)
	if err != nil {
		t.Fatalf("restore %s: %v", tgt, err)
	}
	return p
}

// restoreFailsClearly restores tgt and fails unless it either fails with a
// clear error (missing segments, not restorable) or gives the right answer;
// it reports whether the restore failed.
func restoreFailsClearly(t *testing.T, w *rt.World, st backends.Store, tgt pitr.Target) bool {
	t.Helper()
	_, err := w.Restore(context.Background(), st, tgt)
	switch {
	case err == nil:
		return false
	case errors.Is(err, rt.WrongAnswer):
		t.Fatalf("restore %s after prune: %v", tgt, err)
	case errors.Is(err, pitr.ErrMissingSegments), errors.Is(err, pitr.ErrNotRestorable):
		if !strings.Contains(err.Error(), "entr") {
			t.Fatalf("restore %s: unclear error %v", tgt, err)
		}
	default:
		t.Fatalf("restore %s after prune: unexpected error %v", tgt, err)
	}
	return true
}

// retained lists every retained position of a plan as restore targets:
// every position of each range (on the world's history), pinned points by
// name.
func retained(w *rt.World, pl *retention.PrunePlan, every uint64) []pitr.Target {
	var out []pitr.Target
	for _, tg := range pl.Targets {
		if !tg.Restorable {
			continue
		}
		switch tg.Kind {
		case "point":
			out = append(out, pitr.Target{Point: tg.Name})
			continue
		}
		h := w.History(tg.Timeline)
		var n uint64
		for _, idx := range rt.Indexes(h) {
			if idx < tg.From || idx > tg.To {
				continue
			}
			if n%every == 0 || idx == tg.From || idx == tg.To {
				out = append(out, pitr.Target{Index: idx, Timeline: tg.Timeline})
			}
			n++
		}
	}
	return out
}

func deletedKeys(pl *retention.PrunePlan, k retention.Kind) map[string]bool {
	out := map[string]bool{}
	for d := range pl.All() {
		if d.Kind == k {
			out[d.Key] = true
		}
	}
	return out
}

func newMem() *mem.Store { return mem.New() }

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
