package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// marker is written into the source's text entries; no object of an
// encrypted store may hold it.
const marker = "PLAINTEXT-MARKER-7f3a"

func testIdentity(t *testing.T) (*crypt.Identity, *crypt.Recipient) {
	t.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := id.Recipient()
	return id, r
}

func fileStore(t *testing.T) backends.Store {
	t.Helper()
	st, err := file.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// restoreWith restores target from st with ids and compares the log with
// want[from..to].
func restoreWith(t *testing.T, st backends.Store, target pitr.Target, ids []*crypt.Identity, want map[uint64][]byte, from, to uint64) {
	t.Helper()
	out := t.TempDir()
	if _, _, err := pitr.Restore(context.Background(), st, target, out, pitr.Options{Identities: ids}); err != nil {
		t.Fatalf("restore %+v: %v", target, err)
	}
	compareLog(t, filepath.Join(out, "wal"), want, from, to)
}

// restoreFails restores target from st with ids and wants an error naming
// every fingerprint in need, with nothing written.
func restoreFails(t *testing.T, st backends.Store, target pitr.Target, ids []*crypt.Identity, need ...crypt.Fingerprint) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	_, _, err := pitr.Restore(context.Background(), st, target, out, pitr.Options{Identities: ids})
	if !errors.Is(err, crypt.ErrNoIdentity) {
		t.Fatalf("restore %+v with %v: %v, want ErrNoIdentity", target, ids, err)
	}
	for _, fp := range need {
		if !strings.Contains(err.Error(), fp.String()) {
			t.Errorf("restore %+v: %v does not name the fingerprint %s it needs", target, err, fp)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "wal")); len(ents) > 0 {
		t.Errorf("a refused restore wrote %d files", len(ents))
	}
}

// segmentHeaders reads the header of every segment in st.
func segmentHeaders(t *testing.T, st backends.Store) map[string]segments.Header {
	t.Helper()
	out := map[string]segments.Header{}
	for _, k := range segmentKeys(t, st) {
		rc, err := st.Get(context.Background(), k, 0, segments.MaxHeaderSize)
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := segments.ReadHeader(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out[k] = h
	}
	return out
}

// objectsHolding lists the objects of st whose bytes contain s.
func objectsHolding(t *testing.T, st backends.Store, s string) []string {
	t.Helper()
	var keys, found []string
	st.List(context.Background(), "", "", func(oi backends.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	})
	for _, k := range keys {
		rc, err := st.Get(context.Background(), k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(b, []byte(s)) {
			found = append(found, k)
		}
	}
	return found
}

// checkTimelineRecords asserts that every timeline record of st is sealed
// to fps and opens with id (or, without fps, is plain version 1).
func checkTimelineRecords(t *testing.T, st backends.Store, id *crypt.Identity, fps ...crypt.Fingerprint) {
	t.Helper()
	n := 0
	err := st.List(context.Background(), segments.TimelinesPrefix, "", func(oi backends.ObjectInfo) error {
		rc, err := st.Get(context.Background(), oi.Key, 0, -1)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		var ids []*crypt.Identity
		if id != nil {
			ids = append(ids, id)
		}
		tl, info, err := segments.DecodeTimelineWith(b, ids)
		if err != nil {
			return fmt.Errorf("%s: %w", oi.Key, err)
		}
		if !slices.Equal(info.Recipients, fps) || (len(fps) > 0 && (!info.Opened || tl.Reason == "")) {
			return fmt.Errorf("%s: record %+v stored as %+v, want sealed to %v", oi.Key, tl, info, fps)
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("timeline records: %d checked: %v", n, err)
	}
}

func spoolVariants(t *testing.T, stateDir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(stateDir, "spool", variantDirPrefix+"*", "*"))
	return m
}

// One agent, two file stores: one encrypted to a test recipient, one plain.
// Each restores byte for byte (the encrypted one only with the identity,
// and a refused restore names the fingerprint); the encrypted store's
// segments are v2 sealed to that recipient and no object of it holds the
// marker written into the source, which the plain store's (v1, no
// compression) do hold; the spool keeps no encrypted copy once shipped.
func TestEncryptedAndPlainStores(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	id, rcpt := testIdentity(t)
	other, _ := testIdentity(t)
	enc, plain := fileStore(t), fileStore(t)
	state := filepath.Join(t.TempDir(), "state")
	src.write(900, marker)
	r := startWith(t, src.dir, func(o *Options) {
		o.StateDir = state
		o.Codec = segments.CodecNone
		o.Stores[0].Recipients = []*crypt.Recipient{rcpt}
	}, enc, plain)
	r.waitShipped(t, 1, 900)
	src.write(300, marker)
	r.waitShipped(t, 1, 1200)
	st := r.a.Status()
	r.halt(t)
	if !st.Stores[0].Encrypted || st.Stores[1].Encrypted {
		t.Errorf("status: %+v", st.Stores)
	}

	for k, h := range segmentHeaders(t, enc) {
		if h.Version != segments.Version2 || !slices.Equal(h.Recipients, []crypt.Fingerprint{rcpt.Fingerprint()}) {
			t.Fatalf("encrypted store: %s is version %d to %v", k, h.Version, h.Recipients)
		}
	}
	for k, h := range segmentHeaders(t, plain) {
		if h.Version != segments.Version1 {
			t.Fatalf("plain store: %s is version %d", k, h.Version)
		}
	}
	checkTimelineRecords(t, enc, id, rcpt.Fingerprint())
	checkTimelineRecords(t, plain, nil)
	if got := objectsHolding(t, plain, marker); len(got) == 0 {
		t.Fatal("the plain store holds no marker: the check below proves nothing")
	}
	if got := objectsHolding(t, enc, marker); len(got) > 0 {
		t.Fatalf("the encrypted store holds the plaintext marker in %v", got)
	}
	restoreWith(t, plain, pitr.Target{Latest: true}, nil, src.want, 1, 1200)
	restoreWith(t, enc, pitr.Target{Latest: true}, []*crypt.Identity{id}, src.want, 1, 1200)
	restoreWith(t, enc, pitr.Target{Index: 700}, []*crypt.Identity{other, id}, src.want, 1, 700)
	restoreFails(t, enc, pitr.Target{Latest: true}, nil, rcpt.Fingerprint())
	restoreFails(t, enc, pitr.Target{Latest: true}, []*crypt.Identity{other}, rcpt.Fingerprint())
	if left := spoolVariants(t, state); len(left) > 0 {
		t.Fatalf("encrypted copies left in the spool after shipping: %v", left)
	}
}

// Rotation: the recipients change between two runs. Segments sealed before
// open with the old identity only, those after with the new one only; a
// restore of the whole history needs both, and one without either names
// the fingerprint it lacks.
func TestEncryptionRotation(t *testing.T) {
	src := newSource(t, tidwal.JSON)
	oldID, oldR := testIdentity(t)
	newID, newR := testIdentity(t)
	enc := fileStore(t)
	state := filepath.Join(t.TempDir(), "state")
	run := func(r *crypt.Recipient, upTo uint64) {
		ag := startWith(t, src.dir, func(o *Options) {
			o.StateDir = state
			o.Stores[0].Recipients = []*crypt.Recipient{r}
		}, enc)
		ag.waitShipped(t, 1, upTo)
		ag.halt(t)
	}
	src.write(500, marker)
	run(oldR, 500)
	src.write(400, marker)
	run(newR, 900)

	for k, h := range segmentHeaders(t, enc) {
		want := newR.Fingerprint()
		if h.Last <= 500 {
			want = oldR.Fingerprint()
		}
		if !slices.Equal(h.Recipients, []crypt.Fingerprint{want}) {
			t.Fatalf("%s is sealed to %v, want %s", k, h.Recipients, want)
		}
	}
	both := []*crypt.Identity{oldID, newID}
	restoreWith(t, enc, pitr.Target{Latest: true}, both, src.want, 1, 900)
	restoreWith(t, enc, pitr.Target{Index: 500}, []*crypt.Identity{oldID}, src.want, 1, 500)
	restoreFails(t, enc, pitr.Target{Index: 500}, []*crypt.Identity{newID}, oldR.Fingerprint())
	restoreFails(t, enc, pitr.Target{Latest: true}, []*crypt.Identity{oldID}, newR.Fingerprint())
	restoreFails(t, enc, pitr.Target{Latest: true}, []*crypt.Identity{newID}, oldR.Fingerprint())
	if got := objectsHolding(t, enc, marker); len(got) > 0 {
		t.Fatalf("the encrypted store holds the plaintext marker in %v", got)
	}
}
