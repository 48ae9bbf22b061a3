package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// pruneWorld builds a file store in dir whose entries end a few minutes
// before now, one every 10 minutes (so a window boundary computed seconds
// later falls at the same entry): 400 entries on timeline 1, bases at 30,
// 60, 100, 200, 300 and 380 with extra bytes each (extraKiB chunks no other
// base shares), a pinned point at 250 and an unpinned one at 120. Under
// --snapshots 1 --window 20h the window starts near 280 and restores from
// the base at 200; the bases at 30, 60 and 100 go.
func pruneWorld(t *testing.T, dir string, extraKiB int) (*rt.World, backends.Store) {
	t.Helper()
	step := 10 * time.Minute
	const n = 400
	t0 := time.Now().Add(-n*step - 5*time.Minute).Truncate(time.Second)
	build := mem.New()
	w := rt.New(t, build, t0, step)
	w.Extra = extraKiB << 10
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "test", Time: t0}, n)
	for _, i := range []uint64{30, 60, 100, 200, 300, 380} {
		w.Base(1, i)
	}
	w.Point("pinned-250", 1, 250, true)
	w.Point("loose-120", 1, 120, false)
	rt.WriteFiles(t, build, dir)
	st, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.St = st
	return w, st
}

func TestPruneUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"prune"}, 2, "want one STORE_URL"},
		{[]string{"prune", dir, dir}, 2, "want one STORE_URL"},
		{[]string{"prune", dir, "--snapshots", "-1"}, 2, "--snapshots -1"},
		{[]string{"prune", dir, "--window", "soon"}, 2, `--window "soon"`},
		{[]string{"prune", dir, "--window", "-1h"}, 2, "--window"},
		{[]string{"prune", dir, "--store", "x"}, 2, "--store needs --config"},
		{[]string{"prune", dir, "--bogus"}, 2, "bogus"},
		{[]string{"prune", "--help"}, 0, ""},
		{[]string{"prune", "--config", filepath.Join(dir, "missing.yml")}, 2, "missing.yml"},
	} {
		code, stdout, stderr := walship(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, want %d; stderr %q, want %q; stdout %q", c.args, code, c.code, stderr, c.msg, stdout)
		}
	}
	// An empty store prunes to nothing.
	if code, stdout, stderr := walship(t, "prune", "file://"+dir, "--window", "7d"); code != 0 || !strings.Contains(stdout, "deleted 0 object(s)") {
		t.Fatalf("empty store: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestPruneDryRunThenPrune(t *testing.T) {
	dir := t.TempDir()
	w, st := pruneWorld(t, dir, 3)
	before := rt.Keys(t, st)
	args := []string{"prune", "file://" + dir, "--snapshots", "1", "--window", "20h"}
	code, stdout, stderr := walship(t, append(args, "--dry-run")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !maps.Equal(before, rt.Keys(t, st)) {
		t.Fatal("the dry run deleted something")
	}
	pl, err := retention.Plan(context.Background(), st, retention.Policy{Snapshots: 1, Window: 20 * time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if pl.Count() == 0 {
		t.Fatal("fixture: nothing to prune")
	}
	for d := range pl.All() {
		if !strings.Contains(stdout, d.Key) || !strings.Contains(stdout, d.Reason) {
			t.Fatalf("dry run does not list %s (%s):\n%s", d.Key, d.Reason, stdout)
		}
	}
	if !strings.Contains(stdout, "dry run: nothing deleted") || !strings.Contains(stdout, "total: delete") {
		t.Fatalf("dry run output:\n%s", stdout)
	}
	code, stdout, stderr = walship(t, args...)
	if code != 0 {
		t.Fatalf("prune: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, fmt.Sprintf("deleted %d object(s)", pl.Count())) {
		t.Fatalf("prune output:\n%s", stdout)
	}
	checkRetained(t, w, st, pl, 4, true)
	// The unpinned point outside the window is no longer restorable: the
	// restore says so.
	out := filepath.Join(t.TempDir(), "out")
	if code, stdout, stderr := walship(t, "restore", "file://"+dir, out, "--point", "loose-120"); code != 1 || !strings.Contains(stderr, "segments missing") {
		t.Fatalf("restore of a pruned position: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestPruneConfig(t *testing.T) {
	root := t.TempDir()
	wa, a := pruneWorld(t, filepath.Join(root, "a"), 1)
	wb, b := pruneWorld(t, filepath.Join(root, "b"), 1)
	cfg := filepath.Join(root, "walship.yml")
	yml := fmt.Sprintf("stores:\n  - {name: a, url: \"file://%s\"}\n  - {name: b, url: \"file://%s\"}\nretention: {snapshots: 1, window: 20h}\n", filepath.Join(root, "a"), filepath.Join(root, "b"))
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	beforeB := rt.Keys(t, b)
	code, stdout, stderr := walship(t, "prune", "--config", cfg, "--store", "a")
	if code != 0 || !strings.Contains(stdout, "window from") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !maps.Equal(beforeB, rt.Keys(t, b)) {
		t.Fatal("--store a pruned b")
	}
	if code, _, stderr := walship(t, "prune", "--config", cfg, "--store", "c"); code != 2 || !strings.Contains(stderr, `"c"`) {
		t.Fatalf("unknown store: exit %d %s", code, stderr)
	}
	// Both stores; the flag overrides the config's window: 0 keeps every
	// position, so b loses only its oldest bases.
	code, stdout, stderr = walship(t, "prune", "--config", cfg, "--window", "0")
	if code != 0 || !strings.Contains(stdout, "== store a") || !strings.Contains(stdout, "== store b") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, c := range []struct {
		w  *rt.World
		st backends.Store
	}{{wa, a}, {wb, b}} {
		rt.ManifestsComplete(t, c.st)
		mustRestoreCLI(t, c.w, c.st, pitr.Target{Point: "pinned-250"})
		mustRestoreCLI(t, c.w, c.st, pitr.Target{Latest: true})
	}
	mustRestoreCLI(t, wb, b, pitr.Target{Index: 1})
}

func mustRestoreCLI(t *testing.T, w *rt.World, st backends.Store, tg pitr.Target) {
	t.Helper()
	if _, err := w.Restore(context.Background(), st, tg); err != nil {
		t.Fatalf("restore %s: %v", tg, err)
	}
}

// checkRetained checks that every retained target of pl plans as before
// (want, if given) and restores (a sample, every every-th position).
func checkRetained(t *testing.T, w *rt.World, st backends.Store, pl *retention.PrunePlan, every int, all bool) {
	t.Helper()
	rt.ManifestsComplete(t, st)
	i := 0
	for _, tg := range pl.Targets {
		if tg.Kind == "point" {
			mustRestoreCLI(t, w, st, pitr.Target{Point: tg.Name})
			continue
		}
		for n := tg.From; n <= tg.To; n++ {
			if all || i%every == 0 || n == tg.From || n == tg.To {
				mustRestoreCLI(t, w, st, pitr.Target{Index: n, Timeline: tg.Timeline})
			}
			i++
		}
	}
}

// TestPruneKill9 kills 'walship prune' (SIGKILL) at random moments, a few
// times, on a file store with thousands of objects to delete; after each
// kill the retained targets still plan as before and restore, and no
// manifest misses a chunk; a last run finishes the job. The targets checked
// are every point and every 4th retained position with the ends of each
// range (a plan here lists some 8,000 objects), a third of them after each
// run, in turn; the end state is checked against the uninterrupted plan.
func TestPruneKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := walshipBin(t)
	dir := t.TempDir()
	w, st := pruneWorld(t, dir, 1500)
	pol := retention.Policy{Snapshots: 1, Window: 20 * time.Hour}
	pl, err := retention.Plan(context.Background(), st, pol, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var targets []pitr.Target
	positions := 0
	for _, tg := range pl.Targets {
		if tg.Kind == "point" {
			targets = append(targets, pitr.Target{Point: tg.Name})
			continue
		}
		for n := tg.From; n <= tg.To; n++ {
			if (n-tg.From)%4 == 0 || n == tg.To {
				targets = append(targets, pitr.Target{Index: n, Timeline: tg.Timeline})
			}
			positions++
		}
	}
	ref := map[string]string{}
	for _, tg := range targets {
		p, err := pitr.MakePlan(context.Background(), st, tg)
		if err != nil {
			t.Fatal(err)
		}
		ref[tg.String()] = planSig(p)
	}
	before := rt.Keys(t, st)
	t.Logf("%d objects, the prune deletes %d; %d retained positions, %d targets checked", len(before), pl.Count(), positions, len(targets))

	rng := rand.New(rand.NewPCG(9, 9))
	args := []string{"prune", "file://" + dir, "--snapshots", "1", "--window", "20h"}
	end := len(before) - pl.Count()
	kills := 0
	for i := 0; i < 10 && kills < 4; i++ {
		left := len(rt.Keys(t, st))
		if left == end {
			break
		}
		cmd := exec.Command(bin, args...)
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		planned := make(chan struct{}) // the plan is printed: deletions begin
		exited := make(chan struct{})
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			sc := bufio.NewScanner(stdout)
			once := false
			for sc.Scan() {
				if !once && strings.HasPrefix(sc.Text(), "total:") {
					close(planned)
					once = true
				}
			}
			if !once {
				close(planned)
			}
			cmd.Wait()
			close(exited)
		}()
		// The first kill comes at a random moment of start-up and planning;
		// the others at a random moment of the deletions (about 70 objects
		// a millisecond here).
		if i == 0 {
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		} else {
			<-planned
			time.Sleep(time.Duration(rng.IntN(max(1, (left-end)/100*1000))) * time.Microsecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			kills++
		} else if !cmd.ProcessState.Success() {
			t.Fatalf("run %d: %v\n%s", i, cmd.ProcessState, errOut.String())
		}
		t.Logf("run %d: killed %v, %d objects left of %d (end: %d)", i, ws.Signaled(), len(rt.Keys(t, st)), left, end)
		for j, tg := range targets {
			if j%3 != i%3 && j != len(targets)-1 {
				continue
			}
			p, err := pitr.MakePlan(context.Background(), st, tg)
			if err != nil {
				t.Fatalf("after run %d: plan %s: %v", i, tg, err)
			}
			if planSig(p) != ref[tg.String()] {
				t.Fatalf("after run %d: %s plans differently", i, tg)
			}
			if j%10 == i%10 {
				mustRestoreCLI(t, w, st, tg)
			}
		}
		rt.ManifestsComplete(t, st)
	}
	if kills == 0 {
		t.Fatal("no run was killed mid-way: the prune is too quick for this test")
	}
	if code, stdout, stderr := walship(t, args...); code != 0 {
		t.Fatalf("last run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	after := rt.Keys(t, st)
	for d := range pl.All() {
		delete(before, d.Key)
	}
	if !maps.Equal(before, after) {
		t.Fatalf("end state: %d objects, want %d", len(after), len(before))
	}
	checkRetained(t, w, st, pl, 10, false)
}

func planSig(p *pitr.Plan) string {
	var b strings.Builder
	if p.Base != nil {
		b.WriteString(p.Base.Key)
	}
	for _, s := range p.Segments.All() {
		fmt.Fprintf(&b, " %s[%d..%d]", s.Key(), s.From, s.To)
	}
	return b.String()
}
