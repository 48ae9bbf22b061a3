package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/pitr"
)

func TestIsDiskFull(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "write", Path: "/s/spool/open-1.tmp", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("save state in /s: %w", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.ENOSPC}), true},
		{fmt.Errorf("spill entry 7: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}), true},
		{&fs.PathError{Op: "open", Path: "/s/state.json", Err: syscall.EACCES}, false},
		{&fs.PathError{Op: "write", Path: "/s/state.json", Err: syscall.EROFS}, false},
		{errors.New("no space left on device"), false}, // only the errno counts, not words
		{nil, false},
	} {
		if got := isDiskFull(c.err); got != c.want {
			t.Errorf("isDiskFull(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// healthz returns the agent's /healthz status and body.
func healthz(a *Agent) (int, string) {
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	return rec.Code, rec.Body.String()
}

// stateDirFull is the walship_state_dir_full gauge.
func stateDirFull(t *testing.T, a *Agent) float64 {
	t.Helper()
	mfs, err := a.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "walship_state_dir_full" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no walship_state_dir_full metric")
	return 0
}

// running reports whether Run has not returned.
func (r *running) running() bool {
	select {
	case err := <-r.done:
		r.done <- err
		return false
	default:
		return true
	}
}

func openFileStore(t *testing.T) backends.Store {
	t.Helper()
	st, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The state dir's filesystem fills up (a real tmpfs, kept full by a
// ballast) while the source keeps growing: the agent keeps running, says
// why in /status, /healthz and the metric, ships the backlog it had sealed
// (freeing the spool), logs the fault once, not per retry; when the space
// is back it resumes by itself, and the store restores to the source byte
// for byte.
func TestDiskFullKeepsShippingAndResumes(t *testing.T) {
	stateDir := tmpfsDir(t, 8<<20)
	src := newSource(t, tidwal.Binary)
	st := openFileStore(t)
	gate := newGated(st)
	logs := &syncBuffer{}
	src.write(200, "a")
	r := startWith(t, src.dir, diskFullOptions(stateDir, logs), gate)
	r.waitShipped(t, 1, 200)

	gate.hold() // a backlog in the spool
	src.write(300, "b")
	waitFor(t, "the backlog sealed", func() bool { return r.a.Status().Sealed == 500 })
	full := fillDisk(t, stateDir)
	src.write(300, "c")
	waitFor(t, "sealing paused for the full state dir", func() bool {
		return strings.Contains(r.a.Status().SealError, "no space left on device")
	})
	if code, body := healthz(r.a); code != 503 || !strings.Contains(body, "seal: state dir "+stateDir+" is full") {
		t.Fatalf("/healthz with the state dir full: %d %q", code, body)
	}
	if v := stateDirFull(t, r.a); v != 1 {
		t.Fatalf("walship_state_dir_full = %v with the state dir full", v)
	}

	gate.let()
	waitFor(t, "the backlog shipped and gone from the spool while the state dir is full", func() bool {
		s := r.a.Status()
		return s.Stores[0].Shipped >= 500 && s.Spooled == 0
	})
	if !r.running() {
		t.Fatal("the agent stopped with the state dir full")
	}
	waitFor(t, "the fault still reported while the disk stays full", func() bool { return r.a.Status().SealError != "" })
	waitFor(t, "the entries waiting in the source counted as lag", func() bool {
		s := r.a.Status().Stores[0]
		return s.LagEntries > 0 && s.LagSeconds > 0.2
	})

	full.release()
	waitFor(t, "the fault cleared once space is back", func() bool {
		s := r.a.Status()
		return s.SealError == "" && s.StateError == ""
	})
	r.waitShipped(t, 1, 800)
	src.write(100, "d")
	r.waitShipped(t, 1, 900)
	if code, body := healthz(r.a); code != 200 {
		t.Fatalf("/healthz after the space came back: %d %q", code, body)
	}
	if v := stateDirFull(t, r.a); v != 0 {
		t.Fatalf("walship_state_dir_full = %v after the space came back", v)
	}
	r.halt(t)
	paused, resumed := pauseLogs(logs)
	if paused < 1 || paused > 3 || resumed != paused {
		t.Errorf("logged %d pauses and %d resumptions; want one line per change, not per retry:\n%s", paused, resumed, logs.String())
	}
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 900)
	verifyClean(t, st)
}

// Full, free, full again, then the agent is stopped while full (a clean
// stop: Run returns nil) and started again after space is freed: nothing
// lost, nothing twice.
func TestDiskFullTwiceStopWhileFullRestart(t *testing.T) {
	stateDir := tmpfsDir(t, 8<<20)
	src := newSource(t, tidwal.JSON)
	st := openFileStore(t)
	src.write(100, "a")
	r := startWith(t, src.dir, diskFullOptions(stateDir, nil), st)
	r.waitShipped(t, 1, 100)
	full := fillDisk(t, stateDir)
	src.write(100, "b")
	waitFor(t, "sealing paused", func() bool { return r.a.Status().SealError != "" })
	full.release()
	waitFor(t, "sealing resumed", func() bool { return r.a.Status().SealError == "" })
	r.waitShipped(t, 1, 200)

	full = fillDisk(t, stateDir)
	src.write(100, "c")
	waitFor(t, "sealing paused again", func() bool { return r.a.Status().SealError != "" })
	r.halt(t) // fails the test if Run returns an error
	full.release()

	src.write(50, "d")
	r = startWith(t, src.dir, diskFullOptions(stateDir, nil), st)
	r.waitShipped(t, 1, 350)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 350)
	verifyClean(t, st)
}

// An agent killed with SIGKILL while its state dir is full, after it
// shipped a backlog it could not record in state.json (its spool cleaned
// all the same), then a new agent on the same state dir once space is
// back: the restore is exact.
func TestDiskFullKill9(t *testing.T) {
	stateDir := tmpfsDir(t, 8<<20)
	src := newSource(t, tidwal.Binary)
	child, addr, st := startShippingChild(t, src, stateDir)
	src.write(300, "b")
	waitFor(t, "a backlog sealed", func() bool { s, ok := getStatus(addr); return ok && s.Sealed == 400 })
	full := fillDisk(t, stateDir)
	src.write(100, "c")
	waitFor(t, "the backlog shipped, with the state dir full", func() bool {
		s, ok := getStatus(addr)
		code, body := getHealth(addr)
		return ok && s.Stores[0].Shipped == 400 && s.Spooled == 0 && code == 503 && strings.Contains(body, "is full (no space left on device)")
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if saved, err := loadStateFile(stateDir); err == nil {
		t.Logf("state.json at the kill: sealed %d, cursor %s", saved.Sealed.Index, saved.Cursors[st.String()])
	}
	full.release()

	src.write(50, "d")
	r := startWith(t, src.dir, diskFullOptions(stateDir, nil), st)
	r.waitShipped(t, 1, 550)
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 550)
	verifyClean(t, st)
}

func loadStateFile(dir string) (*state, error) {
	st, _, err := loadState(dir, nil)
	return st, err
}

// An agent started on a state dir that is already full waits for space
// (its first state.json cannot be written) instead of exiting, and ships
// everything once there is room.
func TestDiskFullAtStart(t *testing.T) {
	stateDir := tmpfsDir(t, 8<<20)
	src := newSource(t, tidwal.Binary)
	st := openFileStore(t)
	src.write(100, "a")
	full := fillDisk(t, stateDir)
	r := startWith(t, src.dir, diskFullOptions(stateDir, nil), st)
	waitFor(t, "the full state dir reported at start", func() bool { return r.a.Status().SealError != "" })
	if !r.running() {
		t.Fatal("the agent stopped with the state dir full at start")
	}
	full.release()
	src.write(50, "b")
	r.waitShipped(t, 1, 150)
	waitFor(t, "the fault cleared", func() bool { return r.a.Status().SealError == "" })
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 150)
}

// verifyClean checks the store holds no damage, gap or conflict.
func verifyClean(t *testing.T, st backends.Store) {
	t.Helper()
	rep, err := pitr.Verify(context.Background(), st)
	if err != nil || len(rep.Damaged)+len(rep.Gaps)+len(rep.Conflicts) != 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// A state dir full for longer than the longest wait: the spool is probed
// every DiskFullBackoff (a probe costs nothing), so sealing resumes within
// about that of space coming back, not after a wait that doubled while the
// disk stayed full.
func TestDiskFullResumesPromptly(t *testing.T) {
	stateDir := tmpfsDir(t, 8<<20)
	src := newSource(t, tidwal.Binary)
	st := openFileStore(t)
	src.write(100, "a")
	r := startWith(t, src.dir, func(o *Options) {
		o.StateDir = stateDir
		o.DiskFullBackoff, o.DiskFullMaxBackoff = 50*time.Millisecond, 10*time.Second
	}, st)
	r.waitShipped(t, 1, 100)
	full := fillDisk(t, stateDir)
	src.write(100, "b")
	waitFor(t, "sealing paused", func() bool { return r.a.Status().SealError != "" })
	time.Sleep(1800 * time.Millisecond) // doubling waits would have grown past a second by now
	full.release()
	freed := time.Now()
	r.waitShipped(t, 1, 200)
	if took := time.Since(freed); took > time.Second {
		t.Fatalf("the entries written while the state dir was full shipped %v after space came back, want within a second", took)
	}
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 200)
}
