package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
)

// encPair is an encrypted store that can be taken down and a plain store,
// shipped to by agents on one state dir.
type encPair struct {
	t          *testing.T
	src        *source
	enc        *faulty
	plain      backends.Store
	state      string
	recipients []*crypt.Recipient
}

func newEncPair(t *testing.T, src *source) *encPair {
	return &encPair{t: t, src: src, enc: &faulty{Store: fileStore(t)}, plain: fileStore(t), state: filepath.Join(t.TempDir(), "state")}
}

// start runs an agent whose first store is encrypted to r.
func (e *encPair) start(r *crypt.Recipient) *running {
	return startWith(e.t, e.src.dir, func(o *Options) {
		o.StateDir = e.state
		o.ReconcileMaxBackoff = 50 * time.Millisecond
		o.Stores[0].Recipients = []*crypt.Recipient{r}
	}, e.enc, e.plain)
}

// pending takes the encrypted store down, writes n entries and runs an
// agent until the plain store has them: they wait in the spool for the
// encrypted one. The agent is left running.
func (e *encPair) pending(n int, r *crypt.Recipient) *running {
	e.enc.down.Store(true)
	e.src.write(n, marker)
	want := e.src.last()
	ag := e.start(r)
	waitFor(e.t, "plain store shipped", func() bool { return ag.a.Status().Stores[1].Shipped == want })
	return ag
}

// spoolDiskBytes sums the sizes of the spool's sealed files: plain items
// and encrypted copies (not the open segment's spill).
func spoolDiskBytes(t *testing.T, stateDir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(filepath.Join(stateDir, "spool"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, openSuffix) {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// An encrypted store that is down keeps its segments' encrypted copies in
// the spool, counted by the spool's size. Copies damaged while the agent
// was stopped (one cut short, one removed), a temp file and a copy of no
// item are found at start: the temp and orphan are removed, the damaged
// ones made again from the plain segments, and the store restores byte
// for byte. When the recipients change while segments wait, those are
// encrypted to the new recipients and the old set's copies go.
func TestEncryptedSpoolRepair(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	idA, rA := testIdentity(t)
	idB, rB := testIdentity(t)
	e := newEncPair(t, src)
	enc, state, start := e.enc, e.state, e.start
	r := e.pending(600, rA)
	if got, disk := r.a.Status().SpoolBytes, spoolDiskBytes(t, state); got != disk {
		t.Errorf("status counts %d spool bytes, the spool holds %d", got, disk)
	}
	r.halt(t)
	vs := spoolVariants(t, state)
	if len(vs) < 4 {
		t.Fatalf("only %d encrypted copies in the spool: %v", len(vs), vs)
	}
	cut, gone := vs[0], vs[len(vs)/2]
	if err := os.Truncate(cut, 200); err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	setDir := filepath.Dir(cut)
	stray := filepath.Join(setDir, "open-99.tmp")
	orphan := filepath.Join(setDir, "00000001-00000000000000099990-00000000000000099999-00000000000000000001.wseg")
	os.WriteFile(stray, []byte("half a segment"), 0o600)
	os.WriteFile(orphan, []byte("a segment of no item"), 0o600)

	enc.down.Store(false)
	r = start(rA)
	r.waitShipped(t, 1, 600)
	r.halt(t)
	for _, p := range []string{stray, orphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived the start: %v", filepath.Base(p), err)
		}
	}
	restoreWith(t, enc.Store, pitr.Target{Latest: true}, []*crypt.Identity{idA}, src.want, 1, 600)

	// The recipients change while segments wait for the store.
	e.pending(300, rA).halt(t)
	enc.down.Store(false)
	r = start(rB)
	r.waitShipped(t, 1, 900)
	r.halt(t)
	if _, err := os.Stat(setDir); !os.IsNotExist(err) {
		t.Errorf("the old recipient set's spool dir is still there: %v", err)
	}
	restoreWith(t, enc.Store, pitr.Target{Latest: true}, []*crypt.Identity{idA, idB}, src.want, 1, 900)
	restoreWith(t, enc.Store, pitr.Target{Index: 600}, []*crypt.Identity{idA}, src.want, 1, 600)
	restoreFails(t, enc.Store, pitr.Target{Latest: true}, []*crypt.Identity{idA}, rB.Fingerprint())
	if got := objectsHolding(t, enc.Store, marker); len(got) > 0 {
		t.Fatalf("the encrypted store holds the plaintext marker in %v", got)
	}
}
