package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

const baseFileName = "orders-distinct-table.tbl"

// writeDataDir writes a database data dir whose files hold marker and one
// distinctive file name.
func writeDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "tables"), 0o750); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		filepath.Join("tables", baseFileName): bytes.Repeat([]byte(marker+" table row\n"), 3000),
		"meta":                                []byte(marker),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sameDir fails unless the files under got equal those under want.
func sameDir(t *testing.T, want, got string) {
	t.Helper()
	for _, name := range []string{filepath.Join("tables", baseFileName), "meta"} {
		w, err1 := os.ReadFile(filepath.Join(want, name))
		g, err2 := os.ReadFile(filepath.Join(got, name))
		if err1 != nil || err2 != nil || !bytes.Equal(w, g) {
			t.Fatalf("restored %s differs from the data dir (%v, %v)", name, err1, err2)
		}
	}
}

// One agent, a plain and an encrypted file store (two recipients), a
// hard-link base: the capture goes to both, the encrypted store's copy
// sealed. Each store restores the base and the WAL after it byte for byte
// (the encrypted one with either identity); without an identity or with a
// third, one error naming both fingerprints and nothing written; the
// encrypted store holds neither the marker written into the data dir nor
// the data dir's file name; verify without an identity checks the
// encrypted base as stored and finds a flipped chunk byte.
func TestEncryptedBaseSnapshot(t *testing.T) {
	ctx := context.Background()
	src := newSource(t, tidwal.Binary)
	idA, rA := testIdentity(t)
	idB, rB := testIdentity(t)
	third, _ := testIdentity(t)
	enc, plain := fileStore(t), fileStore(t)
	data := writeDataDir(t)
	state := filepath.Join(t.TempDir(), "state")
	src.write(300, marker)
	r := startWith(t, src.dir, func(o *Options) {
		o.StateDir = state
		o.Stores[0].Recipients = []*crypt.Recipient{rA, rB}
		o.Snapshot = SnapshotOptions{DataDir: data, ChunkSize: 16 << 10, RetryAfter: 10 * time.Millisecond}
	}, enc, plain)
	r.waitShipped(t, 1, 300)
	m, err := r.a.TakeSnapshot(ctx)
	if err != nil || m.Index != 300 {
		t.Fatalf("snapshot: %+v %v", m, err)
	}
	src.write(200, marker)
	r.waitShipped(t, 1, 500)
	r.halt(t)

	fi, err := os.Stat(filepath.Join(state, crypt.ChunkSecretFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("chunk secret file: %v %v", fi, err)
	}
	for _, leak := range []string{marker, baseFileName} {
		if got := objectsHolding(t, plain, leak); len(got) == 0 {
			t.Fatalf("the plain store holds no %q: the check below proves nothing", leak)
		}
		if got := objectsHolding(t, enc, leak); len(got) > 0 {
			t.Fatalf("the encrypted store holds %q in %v", leak, got)
		}
	}
	for _, st := range []backends.Store{enc, plain} {
		if infos, err := snapshot.List(ctx, st); err != nil || len(infos) != 1 || infos[0].Key != m.Key() {
			t.Fatalf("bases in %s: %+v %v", st, infos, err)
		}
	}

	restoreBase := func(st backends.Store, ids []*crypt.Identity) {
		t.Helper()
		out := t.TempDir()
		_, res, err := pitr.Restore(ctx, st, pitr.Target{Latest: true}, out, pitr.Options{Identities: ids})
		if err != nil || res.Base != m.Key() {
			t.Fatalf("restore from %s: %+v %v", st, res, err)
		}
		sameDir(t, data, filepath.Join(out, "data"))
		compareLog(t, filepath.Join(out, "wal"), src.want, 301, 500)
	}
	restoreBase(plain, nil)
	restoreBase(enc, []*crypt.Identity{idA})
	restoreBase(enc, []*crypt.Identity{idB})
	for _, ids := range [][]*crypt.Identity{nil, {third}} {
		restoreFails(t, enc, pitr.Target{Latest: true}, ids, rA.Fingerprint(), rB.Fingerprint())
	}
	// The encrypted store first, the plain one beside it, no identity: the
	// plain copy of the base is the one a restore can open.
	both := multi.New(multi.Member{Name: "enc", Store: enc}, multi.Member{Name: "plain", Store: plain})
	out := t.TempDir()
	if _, res, err := pitr.Restore(ctx, both, pitr.Target{Index: 300}, out, pitr.Options{}); err != nil || res.Base != m.Key() {
		t.Fatalf("restore the base from both stores without identity: %+v %v", res, err)
	}
	sameDir(t, data, filepath.Join(out, "data"))
	// Planning needs no identity: the clear part of the manifest.
	p, err := pitr.MakePlan(ctx, enc, pitr.Target{Latest: true})
	if err != nil || p.Base == nil || p.Base.Key != m.Key() || p.Base.Chunks == 0 {
		t.Fatalf("plan without identity: %+v %v", p, err)
	}

	rep, err := pitr.Verify(ctx, enc)
	if err != nil || !rep.OK() || rep.SealedSnapshots != 1 || rep.SealedChunks == 0 || rep.KeyRecords != 1 {
		t.Fatalf("verify without identity: %+v %v", rep, err)
	}
	rep, err = pitr.VerifyWith(ctx, enc, pitr.VerifyOptions{Identities: []*crypt.Identity{idB}})
	if err != nil || !rep.OK() || rep.SealedSnapshots != 0 || rep.SealedChunks != 0 {
		t.Fatalf("verify with identity: %+v %v", rep, err)
	}
	chunks := keysUnder(t, enc, segments.ChunksPrefix)
	flipByte(t, enc, chunks[0], 80)
	for _, ids := range [][]*crypt.Identity{nil, {idA}} {
		rep, err = pitr.VerifyWith(ctx, enc, pitr.VerifyOptions{Identities: ids})
		if err != nil || rep.OK() || !strings.Contains(damageText(rep), chunks[0]) {
			t.Fatalf("verify of a flipped chunk (%d identities): %+v %v", len(ids), rep.Damaged, err)
		}
	}
}

func keysUnder(t *testing.T, st backends.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := st.List(context.Background(), prefix, "", func(oi backends.ObjectInfo) error {
		out = append(out, oi.Key)
		return nil
	}); err != nil || len(out) == 0 {
		t.Fatalf("list %s: %v %v", prefix, out, err)
	}
	return out
}

// flipByte flips one byte of a file store's object.
func flipByte(t *testing.T, st backends.Store, key string, off int) {
	t.Helper()
	p := filepath.Join(st.(*file.Store).Root(), filepath.FromSlash(key))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func damageText(r *pitr.Report) string {
	var b strings.Builder
	for _, d := range r.Damaged {
		b.WriteString(d.Key + ": " + d.Problem + "\n")
	}
	return b.String()
}

// The chunk secret outlives a restart: a second base of the same data dir
// after one stores no new chunk and no second key record (dedup within the
// store by keyed name); a secret file made readable by others meanwhile is
// made owner-only again.
func TestChunkSecretKeptAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	src := newSource(t, tidwal.Binary)
	_, r := testIdentity(t)
	enc := fileStore(t)
	data := writeDataDir(t)
	state := filepath.Join(t.TempDir(), "state")
	secretPath := filepath.Join(state, crypt.ChunkSecretFile)
	run := func(upTo uint64) {
		t.Helper()
		src.write(50, marker)
		ag := startWith(t, src.dir, func(o *Options) {
			o.StateDir = state
			o.Stores[0].Recipients = []*crypt.Recipient{r}
			o.Snapshot = SnapshotOptions{DataDir: data, ChunkSize: 16 << 10, RetryAfter: 10 * time.Millisecond}
		}, enc)
		ag.waitShipped(t, 1, upTo)
		if _, err := ag.a.TakeSnapshot(ctx); err != nil {
			t.Fatal(err)
		}
		ag.halt(t)
	}
	run(50)
	chunks := keysUnder(t, enc, segments.ChunksPrefix)
	if err := os.Chmod(secretPath, 0o644); err != nil {
		t.Fatal(err)
	}
	run(100)
	if again := keysUnder(t, enc, segments.ChunksPrefix); len(again) != len(chunks) {
		t.Fatalf("%d chunks after the second base, %d after the first: the secret changed", len(again), len(chunks))
	}
	if ks := keysUnder(t, enc, crypt.KeyRecordsPrefix); len(ks) != 1 {
		t.Fatalf("key records %v", ks)
	}
	if infos, err := snapshot.List(ctx, enc); err != nil || len(infos) != 2 {
		t.Fatalf("bases: %d %v", len(infos), err)
	}
	if fi, err := os.Stat(secretPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
}
