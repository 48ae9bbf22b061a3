package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

type memFile struct{ b []byte }

func (m *memFile) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }
func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	copy(m.b[off:], p)
	return len(p), nil
}

// encryptItem encrypts a plain spool item to rs anew: other ciphertext
// than the spool's own copy, the same clear header but for the checksum.
func encryptItem(t *testing.T, path string, rs ...*crypt.Recipient) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m memFile
	if _, err := segments.EncryptV1(&m, f, rs); err != nil {
		t.Fatal(err)
	}
	return m.b
}

// An object already under a segment's key (uploaded before a crash) is
// taken when it is the same segment: here another encryption of it, to the
// store's recipients (a copy made again after a crash) and to retired ones
// (made before a change of recipients), each whole; a copy with a flipped
// ciphertext byte is a conflict, and the cursor stops before it.
func TestEncryptedExistingObject(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	id, r := testIdentity(t)
	oldID, oldR := testIdentity(t)
	e := newEncPair(t, src)
	enc, state := e.enc, e.state
	start := func() *running { return e.start(r) }
	e.pending(600, r).halt(t)
	items, err := filepath.Glob(filepath.Join(state, "spool", "*.wseg"))
	if err != nil || len(items) < 5 {
		t.Fatalf("spool items %v %v", items, err)
	}
	ctx := context.Background()
	put := func(item string, b []byte) {
		n, err := parseItem(filepath.Base(item))
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Store.Put(ctx, n.Key(), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	put(items[0], encryptItem(t, items[0], r))
	put(items[1], encryptItem(t, items[1], oldR))
	enc.down.Store(false)
	ag := start()
	ag.waitShipped(t, 1, 600)
	ag.halt(t)
	restoreWith(t, enc.Store, pitr.Target{Latest: true}, []*crypt.Identity{id, oldID}, src.want, 1, 600)

	e.pending(300, r).halt(t)
	items, _ = filepath.Glob(filepath.Join(state, "spool", "*.wseg"))
	bad := encryptItem(t, items[1], r)
	bad[len(bad)-20] ^= 1
	put(items[1], bad)
	enc.down.Store(false)
	ag = start()
	n0, _ := parseItem(filepath.Base(items[0]))
	waitFor(t, "the segment before the conflict shipped", func() bool { return ag.a.Status().Stores[0].Shipped >= n0.Last })
	waitFor(t, "degraded", func() bool { return ag.a.Status().Stores[0].Degraded })
	if got := ag.a.Status().Stores[0].Shipped; got != n0.Last {
		t.Fatalf("the encrypted store's cursor is at %d, want %d (before the conflicting object)", got, n0.Last)
	}
	ag.halt(t)
}
