package segments_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// The golden encrypted base: golden-v2-encrypted's segments and timelines
// plus a base snapshot at entry 150 of timeline 1 (manifest record version
// 2, chunks format v2, the key record) sealed to both test identities, as
// walship's first encrypted snapshot code wrote it. Every later walship
// must restore it.
var updateGoldenBase = flag.Bool("update-golden-base", false, "rewrite the golden encrypted base store (only when creating it)")

const (
	goldenEncryptedBase = "../testdata/golden-v2-encrypted-base"
	goldenBaseIndex     = 150
	goldenBaseMarker    = "golden base file"
)

// goldenBaseFiles is the data dir the golden base was taken of.
func goldenBaseFiles() map[string][]byte {
	return map[string][]byte{
		"db/table-golden.dat": bytes.Repeat([]byte(goldenBaseMarker+" row\n"), 600),
		"db/small":            []byte(goldenBaseMarker + ": small"),
		"VERSION":             []byte(goldenBaseMarker + " 1\n"),
	}
}

func writeGoldenBase(t *testing.T, a, b []*crypt.Identity) {
	t.Helper()
	os.RemoveAll(goldenEncryptedBase)
	if err := os.CopyFS(goldenEncryptedBase, os.DirFS(goldenV2Encrypted)); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for name, body := range goldenBaseFiles() {
		p := filepath.Join(data, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := crypt.NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = snapshot.Upload(context.Background(), openGolden(t, goldenEncryptedBase), snapshot.Source{Dir: data, Index: goldenBaseIndex},
		snapshot.Options{Timeline: 1, ChunkSize: 4096, Detail: "golden", Recipients: recipientsOf(t, a, b), ChunkSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
}

func checkGoldenBaseRestore(t *testing.T, out string) {
	t.Helper()
	for name, want := range goldenBaseFiles() {
		got, err := os.ReadFile(filepath.Join(out, "data", filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("restored %s differs (%v)", name, err)
		}
	}
}

var goldenBaseCase = goldenCase{pitr.Target{Timeline: 1, Index: 280}, 1, goldenBaseIndex + 1, 280}

func TestGoldenEncryptedBaseRestores(t *testing.T) {
	a, b := loadIdentities(t, goldenIdentityA), loadIdentities(t, goldenIdentityB)
	if *updateGoldenBase {
		writeGoldenBase(t, a, b)
	}
	ctx := context.Background()
	st := openGolden(t, goldenEncryptedBase)
	for _, ids := range [][]*crypt.Identity{a, b} {
		out := t.TempDir()
		_, res, err := pitr.Restore(ctx, st, goldenBaseCase.target, out, pitr.Options{Identities: ids})
		if err != nil || !strings.HasSuffix(res.Base, ".json") || res.From != goldenBaseIndex+1 {
			t.Fatalf("restore: %+v %v", res, err)
		}
		checkGoldenBaseRestore(t, out)
		checkRestores(t, st, []goldenCase{goldenBaseCase}, pitr.Options{Identities: ids})
	}
	third, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]*crypt.Identity{nil, {third}} {
		out := filepath.Join(t.TempDir(), "out")
		_, _, err := pitr.Restore(ctx, st, goldenBaseCase.target, out, pitr.Options{Identities: ids})
		if !errors.Is(err, crypt.ErrNoIdentity) {
			t.Fatalf("%d identities: %v, want ErrNoIdentity", len(ids), err)
		}
		for _, fp := range crypt.IdentityFingerprints(append(a, b...)) {
			if !strings.Contains(err.Error(), "fp "+fp.String()) {
				t.Fatalf("%q does not name fp %s", err, fp)
			}
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a refused restore left %s (%v)", out, err)
		}
	}
	rep, err := pitr.Verify(ctx, st)
	if err != nil || !rep.OK() || rep.Snapshots != 1 || rep.SealedSnapshots != 1 || rep.SealedChunks != rep.Chunks || rep.KeyRecords != 1 {
		t.Fatalf("verify without identity: %+v %v", rep, err)
	}
	rep, err = pitr.VerifyWith(ctx, st, pitr.VerifyOptions{Identities: b})
	if err != nil || !rep.OK() || rep.SealedSnapshots != 0 || rep.SealedChunks != 0 {
		t.Fatalf("verify with identity: %+v %v", rep, err)
	}
}

// Every object of the golden base is encrypted: chunks are version 2
// sealed, the manifest a record of version 2, and no file holds the data
// dir's text or names.
func TestGoldenEncryptedBaseSealed(t *testing.T) {
	chunks, _ := filepath.Glob(filepath.Join(goldenEncryptedBase, "chunks", "*", "*"))
	manifests, _ := filepath.Glob(filepath.Join(goldenEncryptedBase, "snapshots", "*", "*.json"))
	keys, _ := filepath.Glob(filepath.Join(goldenEncryptedBase, "keys", "chunk-secret", "*.wkey"))
	if len(chunks) < 3 || len(manifests) != 1 || len(keys) != 1 {
		t.Fatalf("golden base: %d chunks, %d manifests, %d key records", len(chunks), len(manifests), len(keys))
	}
	for _, p := range chunks {
		b, err := os.ReadFile(p)
		if err != nil || binary.BigEndian.Uint16(b[8:]) != segments.ChunkVersion2 || b[11] != 1 {
			t.Fatalf("%s: not an encrypted v2 chunk (%v)", p, err)
		}
	}
	b, err := os.ReadFile(manifests[0])
	if err != nil || !bytes.Contains(b, []byte(`"version":2`)) {
		t.Fatalf("manifest is not a record of version 2 (%v)", err)
	}
	err = filepath.WalkDir(goldenEncryptedBase, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, leak := range []string{goldenBaseMarker, "table-golden", "db/small", "VERSION"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("%s holds %q", p, leak)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A flipped byte in a chunk of the golden base is damage to verify (with
// and without a key) naming the chunk; a restore beside an intact copy
// takes the intact one.
func TestGoldenEncryptedBaseDamage(t *testing.T) {
	a := loadIdentities(t, goldenIdentityA)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(goldenEncryptedBase)); err != nil {
		t.Fatal(err)
	}
	chunks, _ := filepath.Glob(filepath.Join(dir, "chunks", "*", "*"))
	b, err := os.ReadFile(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-20] ^= 1
	if err := os.WriteFile(chunks[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.ToSlash(strings.TrimPrefix(chunks[0], dir+string(filepath.Separator)))
	damaged := openGolden(t, dir)
	for _, ids := range [][]*crypt.Identity{nil, a} {
		rep, err := pitr.VerifyWith(context.Background(), damaged, pitr.VerifyOptions{Identities: ids})
		if err != nil || rep.OK() || rep.Damaged[0].Key != key {
			t.Fatalf("verify with %d identities: %+v %v, want %s damaged", len(ids), rep.Damaged, err, key)
		}
	}
	_, _, err = pitr.Restore(context.Background(), damaged, goldenBaseCase.target, t.TempDir(), pitr.Options{Identities: a})
	if !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), key) {
		t.Fatalf("restore from the damaged base: %v, want ErrCorrupt naming %s", err, key)
	}
	both := multi.New(multi.Member{Name: "damaged", Store: damaged}, multi.Member{Name: "intact", Store: openGolden(t, goldenEncryptedBase)})
	out := t.TempDir()
	if _, _, err := pitr.Restore(context.Background(), both, goldenBaseCase.target, out, pitr.Options{Identities: a}); err != nil {
		t.Fatalf("restore beside an intact copy: %v", err)
	}
	checkGoldenBaseRestore(t, out)
}
