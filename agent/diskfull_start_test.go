package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
)

// stopWithBacklog runs an agent on stateDir until it has sealed 400
// entries of src and shipped only the first 100 to st: it stops with
// 101..400 sealed in its spool.
func stopWithBacklog(t *testing.T, src *source, stateDir string, st *gated) {
	t.Helper()
	src.write(100, "a")
	r := startWith(t, src.dir, func(o *Options) {
		diskFullOptions(stateDir, nil)(o)
		o.DrainTimeout = 20 * time.Millisecond // the store holds every upload: do not wait for it
	}, st)
	r.waitShipped(t, 1, 100)
	st.hold()
	src.write(300, "b")
	waitFor(t, "the backlog sealed", func() bool { return r.a.Status().Sealed == 400 })
	r.halt(t)
	st.let()
}

// checkFullAtStart fails unless the agent reports its full state dir as a
// running agent does: Status, /healthz's seal line, the metric.
func checkFullAtStart(t *testing.T, r *running, stateDir string) {
	t.Helper()
	waitFor(t, "the full state dir reported at start", func() bool {
		return strings.Contains(r.a.Status().SealError, "no space left on device")
	})
	if code, body := healthz(r.a); code != 503 || !strings.Contains(body, "seal: state dir "+stateDir+" is full") {
		t.Fatalf("/healthz after a start on a full state dir: %d %q", code, body)
	}
	if v := stateDirFull(t, r.a); v != 1 {
		t.Fatalf("walship_state_dir_full = %v after a start on a full state dir", v)
	}
}

// An agent restarted on a state dir with neither a block nor an inode left
// (so that even New's empty probe file is refused) starts all the same:
// it says the state dir is full, ships the backlog its spool holds while
// seals nothing of what waits in the source, and once space is back seals
// again by itself, logging the fault once. The store restores byte for
// byte and verifies clean.
func TestDiskFullStartShipsBacklog(t *testing.T) {
	stateDir := tmpfsDirInodes(t, 8<<20, 2048)
	src := newSource(t, tidwal.Binary)
	st := openFileStore(t)
	stopWithBacklog(t, src, stateDir, newGated(st))

	unpin := pinSpool(t, stateDir)
	full := fillDisk(t, stateDir)
	noInodes := fillInodes(t, stateDir)
	src.write(100, "c")
	logs := &syncBuffer{}
	r := startWith(t, src.dir, diskFullOptions(stateDir, logs), st)
	checkFullAtStart(t, r, stateDir)
	r.waitShipped(t, 1, 400)
	waitFor(t, "the backlog gone from the spool", func() bool { return r.a.Status().Spooled == 0 })
	s := r.a.Status()
	if s.Sealed != 400 || s.SealError == "" || !r.running() {
		t.Fatalf("with the state dir full, sealed %d (want 400: nothing more fits), seal error %q, running %v", s.Sealed, s.SealError, r.running())
	}
	if s.Stores[0].LagEntries != 100 {
		t.Fatalf("lag %d entries with 100 waiting in the source", s.Stores[0].LagEntries)
	}

	unpin()
	noInodes.release()
	full.release()
	r.waitShipped(t, 1, 500)
	waitFor(t, "the fault cleared", func() bool { s := r.a.Status(); return s.SealError == "" && s.StateError == "" })
	src.write(50, "d")
	r.waitShipped(t, 1, 550)
	r.halt(t)
	paused, resumed := pauseLogs(logs)
	if paused != 1 || resumed != 1 {
		t.Errorf("logged %d pauses and %d resumptions, want one of each:\n%s", paused, resumed, logs.String())
	}
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 550)
	verifyClean(t, st)
}

// The source was rewritten below the backlog while the agent was down, and
// the state dir is full when it starts: the new timeline cannot be saved,
// so sealing waits, but the backlog (timeline 1's, as sealed) ships. Once
// space is back the new timeline is recorded and its entries ship; both
// histories restore exactly.
func TestDiskFullStartRewrittenWhileStopped(t *testing.T) {
	stateDir := tmpfsDir(t, 8<<20)
	src := newSource(t, tidwal.JSON)
	st := openFileStore(t)
	stopWithBacklog(t, src, stateDir, newGated(st))
	old := copyMap(src.want)
	src.truncateBack(t, 350)
	src.write(100, "r") // 351..450, different

	unpin := pinSpool(t, stateDir)
	full := fillDisk(t, stateDir)
	r := startWith(t, src.dir, diskFullOptions(stateDir, nil), st)
	checkFullAtStart(t, r, stateDir)
	r.waitShipped(t, 1, 400)
	if s := r.a.Status(); s.Timeline != 1 || s.Sealed != 400 {
		t.Fatalf("with the state dir full: timeline %d, sealed %d; want 1 and 400 (the new timeline waits for space)", s.Timeline, s.Sealed)
	}
	unpin()
	full.release()
	r.waitShipped(t, 2, 450)
	waitFor(t, "the fault cleared", func() bool { return r.a.Status().SealError == "" })
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 450)
	restoreAndCompare(t, st, pitr.Target{Timeline: 1, Latest: true}, old, 1, 400)
	verifyClean(t, st)
}

// An agent killed with SIGKILL while its state dir is full (blocks and
// inodes) and its spool still holds a backlog, then started again while
// the dir is still full: the new agent starts, ships the rest of the
// backlog, says the dir is full, and seals again once space is back;
// nothing is lost or twice in the store.
func TestDiskFullKill9RestartWhileFull(t *testing.T) {
	stateDir := tmpfsDirInodes(t, 8<<20, 2048)
	src := newSource(t, tidwal.Binary)
	child, addr, st := startShippingChild(t, src, stateDir)
	src.write(600, "b")
	waitFor(t, "a backlog sealed", func() bool { s, ok := getStatus(addr); return ok && s.Sealed == 700 })
	unpin := pinSpool(t, stateDir) // before the ballasts
	full := fillDisk(t, stateDir)
	noInodes := fillInodes(t, stateDir)
	src.write(100, "c")
	waitFor(t, "the child paused sealing", func() bool { s, ok := getStatus(addr); return ok && s.SealError != "" })
	s, _ := getStatus(addr)
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if s.Spooled == 0 || s.Stores[0].Shipped >= 700 {
		t.Fatalf("killed with nothing left in the spool (%+v): the restart below would prove nothing", s)
	}

	r := startWith(t, src.dir, diskFullOptions(stateDir, nil), st)
	checkFullAtStart(t, r, stateDir)
	r.waitShipped(t, 1, 700)
	if s := r.a.Status(); s.Sealed != 700 || !r.running() {
		t.Fatalf("with the state dir full after the restart: sealed %d (want 700), running %v", s.Sealed, r.running())
	}
	unpin()
	noInodes.release()
	full.release()
	src.write(50, "d")
	r.waitShipped(t, 1, 850)
	waitFor(t, "the fault cleared", func() bool { s := r.a.Status(); return s.SealError == "" && s.StateError == "" })
	r.halt(t)
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 850)
	verifyClean(t, st)
}

// An encrypted store's first chunk secret is written when its agent
// first starts; on a full state dir that waits (only base snapshots use
// it) instead of failing New, and is written once space is back.
func TestDiskFullStartDefersChunkSecret(t *testing.T) {
	stateDir := tmpfsDir(t, 8<<20)
	src := newSource(t, tidwal.Binary)
	id, rcpt := testIdentity(t)
	enc := openFileStore(t)
	src.write(100, "a")
	full := fillDisk(t, stateDir)
	r := startWith(t, src.dir, func(o *Options) {
		diskFullOptions(stateDir, nil)(o)
		o.Stores[0].Recipients = []*crypt.Recipient{rcpt}
	}, enc)
	checkFullAtStart(t, r, stateDir)
	secret := filepath.Join(stateDir, crypt.ChunkSecretFile)
	if _, err := os.Stat(secret); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("chunk secret with the state dir full: %v", err)
	}
	full.release()
	r.waitShipped(t, 1, 100)
	if _, err := crypt.ReadChunkSecretFile(secret); err != nil {
		t.Fatalf("chunk secret once space is back: %v", err)
	}
	r.halt(t)
	restoreWith(t, enc, pitr.Target{Latest: true}, []*crypt.Identity{id}, src.want, 1, 100)
}

// What a start cannot do without: a state dir whose LOCK cannot be made
// for space fails the start with one error naming the dir and saying it
// is full; a read-only state dir still fails it as unwritable.
func TestDiskFullStartWithoutLock(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	src.write(10, "a")
	stateDir := tmpfsDirInodes(t, 1<<20, 64)
	fillInodes(t, stateDir)
	_, err := New(Options{WALDir: src.dir, StateDir: stateDir, Stores: []Store{{Store: openFileStore(t)}}, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "state dir "+stateDir+" is full (no space left on device)") || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("New on a state dir with no inode for its lock: %v", err)
	}

	ro := mountTmpfs(t, "size=1m,mode=0700", syscall.MS_RDONLY)
	_, err = New(Options{WALDir: src.dir, StateDir: ro, Stores: []Store{{Store: openFileStore(t)}}, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "is not writable") || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("New on a read-only state dir: %v", err)
	}
}
