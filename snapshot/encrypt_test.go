package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// encTestKeys is two identities, their recipients and a chunk secret.
type encTestKeys struct {
	a, b, c []*crypt.Identity // c: a third identity, for no recipient
	rs      []*crypt.Recipient
	secret  *crypt.ChunkSecret
}

func newEncKeys(t *testing.T) encTestKeys {
	t.Helper()
	var k encTestKeys
	for _, p := range []*[]*crypt.Identity{&k.a, &k.b, &k.c} {
		id, err := crypt.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		*p = []*crypt.Identity{id}
	}
	for _, ids := range [][]*crypt.Identity{k.a, k.b} {
		r, _ := ids[0].Recipient()
		k.rs = append(k.rs, r)
	}
	var err error
	if k.secret, err = crypt.NewChunkSecret(); err != nil {
		t.Fatal(err)
	}
	return k
}

const plainMarker = "plaintext-marker-3f9a"

// markedTree writes a data dir whose files hold plainMarker and whose
// names are distinctive.
func markedTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	block := bytes.Repeat([]byte(plainMarker+" row\n"), 4096/len(plainMarker+" row\n")+1)[:4096]
	body := bytes.Repeat(block, 12) // 12 equal 4 KiB chunks: dedup within the file
	writeFile(t, filepath.Join(src, "tables", "orders-distinct-name.db"), body, 0o640)
	writeFile(t, filepath.Join(src, "tables", "small"), []byte(plainMarker), 0o600)
	writeFile(t, filepath.Join(src, "random"), randBytes(7, 20000), 0o600)
	symlink(t, "tables/small", filepath.Join(src, "current-link"))
	return src
}

// storeBytes returns every object of st, concatenated with its key.
func storeBytes(t *testing.T, st backends.Store) []byte {
	t.Helper()
	var all bytes.Buffer
	for _, key := range keys(t, st, "") {
		rc, err := st.Get(context.Background(), key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		all.WriteString(key + "\n")
		all.Write(b.Bytes())
	}
	return all.Bytes()
}

func TestEncryptedUploadRestore(t *testing.T) {
	eachStore(t, func(t *testing.T, ts testStore) {
		ctx := context.Background()
		k := newEncKeys(t)
		src := markedTree(t)
		o := snapshot.Options{ChunkSize: 4096, Recipients: k.rs, ChunkSecret: k.secret}
		m, stats, err := snapshot.Upload(ctx, ts.st, snapshot.Source{Dir: src, Index: 9}, o)
		if err != nil {
			t.Fatal(err)
		}
		all := storeBytes(t, ts.st)
		for _, leak := range []string{plainMarker, "orders-distinct-name", "tables/small", "current-link"} {
			if bytes.Contains(all, []byte(leak)) {
				t.Fatalf("%q readable in the encrypted store", leak)
			}
		}
		if ks := keys(t, ts.st, crypt.KeyRecordsPrefix); len(ks) != 1 || ks[0] != crypt.KeyRecordKey(k.secret.ID(), crypt.Fingerprints(k.rs)) {
			t.Fatalf("key records %v", ks)
		}
		// The chunks are named by the keyed name, not by SHA-256.
		namer := crypt.NewChunkNamer(k.secret)
		small := m.Files[len(m.Files)-1]
		if small.Path != "tables/small" || small.Chunks[0] != segments.Digest(namer.Name([]byte(plainMarker))) {
			t.Fatalf("chunk of %s: %v", small.Path, small.Chunks)
		}
		if stats.ChunksUploaded == 0 || stats.ChunksSkipped == 0 {
			t.Fatalf("dedup within the store: %+v", stats) // the repeated rows share chunks
		}

		// With either identity: exact; the manifest opens only with one.
		for _, ids := range [][]*crypt.Identity{k.a, k.b} {
			got, err := snapshot.LoadWith(ctx, ts.st, m.Key(), ids)
			if err != nil || !got.Opened() {
				t.Fatalf("load with identity: %v", err)
			}
			out := filepath.Join(t.TempDir(), "data")
			if err := snapshot.RestoreFilesWith(ctx, ts.st, got, out, snapshot.RestoreOptions{Identities: ids}); err != nil {
				t.Fatal(err)
			}
			sameTree(t, src, out)
		}
		// Without one, or with a third: one error naming both fingerprints,
		// nothing written.
		clear, err := snapshot.Load(ctx, ts.st, m.Key())
		if err != nil || clear.Opened() || len(clear.ChunkRefs()) != stats.ChunksUploaded {
			t.Fatalf("clear manifest: refs %d, uploaded %d, %v", len(clear.ChunkRefs()), stats.ChunksUploaded, err)
		}
		for _, ids := range [][]*crypt.Identity{nil, k.c} {
			parent := t.TempDir()
			err := snapshot.RestoreFilesWith(ctx, ts.st, clear, filepath.Join(parent, "data"), snapshot.RestoreOptions{Identities: ids})
			wantNoIdentity(t, err, k.rs)
			onlyEntries(t, parent)
			if _, err := snapshot.LoadWith(ctx, ts.st, m.Key(), ids); ids != nil && !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("load with a third identity: %v", err)
			}
		}
		// An opened manifest with an identity that opens no key record.
		parent := t.TempDir()
		opened, _ := snapshot.LoadWith(ctx, ts.st, m.Key(), k.a)
		wantNoIdentity(t, snapshot.RestoreFilesWith(ctx, ts.st, opened, filepath.Join(parent, "data"), snapshot.RestoreOptions{Identities: k.c}), k.rs)
		onlyEntries(t, parent)

		// Without the key record the chunks still open and every file is
		// checked by its SHA-256: a chunk swapped for another of the store
		// (a valid object, sealed to the same keys) is caught.
		rec := keys(t, ts.st, crypt.KeyRecordsPrefix)[0]
		recBytes := getObject(t, ts.st, rec)
		if err := ts.st.Delete(ctx, rec); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "data")
		if err := snapshot.RestoreFilesWith(ctx, ts.st, opened, out, snapshot.RestoreOptions{Identities: k.a}); err != nil {
			t.Fatalf("restore without the key record: %v", err)
		}
		sameTree(t, src, out)
		big, rnd := fileOf(t, opened, "tables/orders-distinct-name.db"), fileOf(t, opened, "random")
		first, other := segments.ChunkKey(big.Chunks[0]), segments.ChunkKey(rnd.Chunks[0])
		firstBytes := getObject(t, ts.st, first)
		putObject(t, ts.st, first, getObject(t, ts.st, other))
		parent = t.TempDir()
		err = snapshot.RestoreFilesWith(ctx, ts.st, opened, filepath.Join(parent, "data"), snapshot.RestoreOptions{Identities: k.a})
		if !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), big.Path) {
			t.Fatalf("swapped chunk without the key record: %v, want ErrCorrupt naming %s", err, big.Path)
		}
		onlyEntries(t, parent)
		putObject(t, ts.st, first, firstBytes)
		putObject(t, ts.st, rec, recBytes)

		// A flipped byte in a chunk: ErrCorrupt naming it, nothing left.
		bad := segments.ChunkKey(opened.Files[len(opened.Files)-2].Chunks[0])
		ts.corrupt(t, bad, 100)
		parent = t.TempDir()
		err = snapshot.RestoreFilesWith(ctx, ts.st, opened, filepath.Join(parent, "data"), snapshot.RestoreOptions{Identities: k.a})
		if !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("flipped chunk: %v, want ErrCorrupt naming %s", err, bad)
		}
		onlyEntries(t, parent)
	})
}

func wantNoIdentity(t *testing.T, err error, rs []*crypt.Recipient) {
	t.Helper()
	if !errors.Is(err, crypt.ErrNoIdentity) {
		t.Fatalf("err %v, want ErrNoIdentity", err)
	}
	for _, fp := range crypt.Fingerprints(rs) {
		if !strings.Contains(err.Error(), fp.String()) {
			t.Fatalf("err %v does not name fingerprint %s", err, fp)
		}
	}
}

// A second upload of the same data dedups by keyed name; the key record is
// written once and an existing one is taken; a record under the key that
// holds another secret is refused.
func TestEncryptedUploadDedupAndKeyRecord(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	k := newEncKeys(t)
	src := markedTree(t)
	o := snapshot.Options{ChunkSize: 4096, Recipients: k.rs, ChunkSecret: k.secret}
	if _, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 9}, o); err != nil {
		t.Fatal(err)
	}
	_, stats, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 10}, o)
	if err != nil || stats.ChunksUploaded != 0 {
		t.Fatalf("second upload: %+v %v", stats, err)
	}
	// Another store whose record under this key holds something else.
	other := mem.New()
	key := crypt.KeyRecordKey(k.secret.ID(), crypt.Fingerprints(k.rs))
	s2, _ := crypt.NewChunkSecret()
	b, _ := crypt.EncodeKeyRecord(s2, k.rs)
	if err := other.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	_, _, err = snapshot.Upload(ctx, other, snapshot.Source{Dir: src, Index: 9}, o)
	if !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), key) {
		t.Fatalf("foreign key record: %v", err)
	}
	if ks := keys(t, other, segments.ChunksPrefix); len(ks) != 0 {
		t.Fatalf("chunks stored before the key record was checked: %v", ks)
	}
	// Recipients without a secret are refused before anything is stored.
	if _, _, err := snapshot.Upload(ctx, mem.New(), snapshot.Source{Dir: src, Index: 9}, snapshot.Options{Recipients: k.rs}); err == nil {
		t.Fatal("recipients without a chunk secret accepted")
	}
}

// One capture uploaded to a plain and an encrypted target: the same key in
// both, plain v1 objects in one, encrypted in the other; each restores.
func TestUploadTargets(t *testing.T) {
	ctx := context.Background()
	plain, enc := mem.New(), mem.New()
	k := newEncKeys(t)
	src := markedTree(t)
	o := snapshot.Options{ChunkSize: 4096, Targets: []snapshot.Target{{Store: plain}, {Store: enc, Recipients: k.rs[:1], ChunkSecret: k.secret}}}
	m, _, err := snapshot.Upload(ctx, nil, snapshot.Source{Dir: src, Index: 5}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(storeBytes(t, plain), []byte(plainMarker)) {
		t.Fatal("the plain store should hold the files as they are")
	}
	if bytes.Contains(storeBytes(t, enc), []byte(plainMarker)) {
		t.Fatal("marker readable in the encrypted store")
	}
	for _, c := range []struct {
		st  backends.Store
		ids []*crypt.Identity
	}{{plain, nil}, {enc, k.a}} {
		if ks := keys(t, c.st, segments.SnapshotsPrefix); len(ks) != 1 || ks[0] != m.Key() {
			t.Fatalf("manifests %v, want %s", ks, m.Key())
		}
		got, err := snapshot.LoadWith(ctx, c.st, m.Key(), c.ids)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "data")
		if err := snapshot.RestoreFilesWith(ctx, c.st, got, out, snapshot.RestoreOptions{Identities: c.ids}); err != nil {
			t.Fatal(err)
		}
		sameTree(t, src, out)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatal(err)
	}
}

func getObject(t *testing.T, st backends.Store, key string) []byte {
	t.Helper()
	rc, err := st.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// putObject replaces key's object with b.
func putObject(t *testing.T, st backends.Store, key string, b []byte) {
	t.Helper()
	ctx := context.Background()
	if err := st.Delete(ctx, key); err != nil && !backends.IsNotFound(err) {
		t.Fatal(err)
	}
	if err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func fileOf(t *testing.T, m snapshot.Manifest, path string) segments.SnapshotFile {
	t.Helper()
	for _, f := range m.Files {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("%s has no file %s", m.Key(), path)
	return segments.SnapshotFile{}
}
