package segments_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// The version 2 golden stores were written by walship's format v2 code and
// must restore with every later walship, like golden-v1. The encrypted
// ones are sealed to the fixed test identities beside them (git does not
// keep their 0600 mode, so the tests copy them to a 0600 file, as a user's
// identity file must be).
var updateGoldenV2 = flag.Bool("update-golden-v2", false, "rewrite the version 2 golden stores (only when creating them)")

const (
	goldenV2Plain     = "../testdata/golden-v2-plain"
	goldenV2Encrypted = "../testdata/golden-v2-encrypted"
	goldenMixed       = "../testdata/golden-mixed"
	goldenIdentityA   = "../testdata/golden-v2-encrypted.identity"
	goldenIdentityB   = "../testdata/golden-v2-encrypted.identity-b"
)

// goldenMarkers are texts of the golden entries: no encrypted object may
// hold them.
var goldenMarkers = []string{"golden entry", "rewrote entry"}

// loadIdentities reads an identity file through a 0600 copy.
func loadIdentities(t *testing.T, path string) []*crypt.Identity {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "identity")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := crypt.ReadIdentityFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func recipientsOf(t *testing.T, ids ...[]*crypt.Identity) []*crypt.Recipient {
	t.Helper()
	var rs []*crypt.Recipient
	for _, l := range ids {
		for _, id := range l {
			r, ok := id.Recipient()
			if !ok {
				t.Fatal("identity without a recipient")
			}
			rs = append(rs, r)
		}
	}
	return rs
}

func writeGoldenV2(t *testing.T, a, b []*crypt.Identity) {
	both, onlyA := recipientsOf(t, a, b), recipientsOf(t, a)
	seg := func(tl uint32, first, last uint64, codec segments.Codec, version int, rs []*crypt.Recipient) goldenSeg {
		return goldenSeg{tl: tl, first: first, last: last, codec: codec, version: version, recipients: rs}
	}
	writeStore(t, goldenV2Plain, []goldenSeg{
		seg(1, 1, 100, segments.CodecZstd, 2, nil), seg(1, 101, 200, segments.CodecNone, 2, nil),
		seg(1, 201, 300, segments.CodecZstd, 2, nil), seg(2, 251, 320, segments.CodecNone, 2, nil),
	})
	writeStore(t, goldenV2Encrypted, []goldenSeg{
		seg(1, 1, 100, segments.CodecZstd, 2, both), seg(1, 101, 200, segments.CodecNone, 2, both),
		seg(1, 201, 300, segments.CodecZstd, 2, both), seg(2, 251, 320, segments.CodecNone, 2, both),
	})
	writeStore(t, goldenMixed, []goldenSeg{
		seg(1, 1, 100, segments.CodecZstd, 1, nil), seg(1, 101, 200, segments.CodecNone, 2, nil),
		seg(1, 201, 300, segments.CodecNone, 2, onlyA), seg(2, 251, 320, segments.CodecZstd, 2, both),
	})
}

func openGolden(t *testing.T, dir string) backends.Store {
	t.Helper()
	st, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(dir, ".walship~tmp")) })
	return st
}

// checkVerify verifies st with ids: intact, 4 segments of 320 entries in
// all, 2 timelines, sealed of the segments checked only as stored.
func checkVerify(t *testing.T, st backends.Store, ids []*crypt.Identity, sealed int) {
	t.Helper()
	rep, err := pitr.VerifyWith(context.Background(), st, pitr.VerifyOptions{Identities: ids})
	if err != nil || !rep.OK() || rep.Segments != 4 || rep.Timelines != 2 || rep.Entries != 370 || rep.SealedSegments != sealed {
		t.Fatalf("verify %s with %d identities: %+v %v", st, len(ids), rep, err)
	}
}

func TestGoldenV2Restores(t *testing.T) {
	a, b := loadIdentities(t, goldenIdentityA), loadIdentities(t, goldenIdentityB)
	if *updateGoldenV2 {
		writeGoldenV2(t, a, b)
	}
	t.Run("plain", func(t *testing.T) {
		st := openGolden(t, goldenV2Plain)
		checkVersions(t, goldenV2Plain, map[uint16]int{segments.Version2: 4}, 0)
		checkVerify(t, st, nil, 0)
		checkRestores(t, st, goldenCases, pitr.Options{})
	})
	t.Run("encrypted", func(t *testing.T) {
		st := openGolden(t, goldenV2Encrypted)
		checkVersions(t, goldenV2Encrypted, map[uint16]int{segments.Version2: 4}, 4)
		checkVerify(t, st, nil, 4) // as stored, without a key
		checkVerify(t, st, a, 0)
		checkRestores(t, st, goldenCases, pitr.Options{Identities: a})
		checkRestores(t, st, goldenCases[:1], pitr.Options{Identities: b})
	})
	t.Run("mixed", func(t *testing.T) {
		st := openGolden(t, goldenMixed)
		checkVersions(t, goldenMixed, map[uint16]int{segments.Version1: 1, segments.Version2: 3}, 2)
		checkVerify(t, st, nil, 2)
		checkVerify(t, st, b, 1) // opens timeline 2's segment, not 201..300's
		checkRestores(t, st, goldenCases, pitr.Options{Identities: a})
		// Up to entry 200 nothing encrypted is needed.
		checkRestores(t, st, []goldenCase{{pitr.Target{Index: 200}, 2, 1, 200}}, pitr.Options{})
	})
}

// checkVersions counts the store's segments by version and the encrypted
// ones, from their headers.
func checkVersions(t *testing.T, dir string, want map[uint16]int, encrypted int) {
	t.Helper()
	got, enc := map[uint16]int{}, 0
	paths, _ := filepath.Glob(filepath.Join(dir, "segments", "*", "*.wseg"))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := segments.ReadHeader(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got[h.Version]++
		if h.Encrypted() {
			enc++
		}
	}
	if len(got) != len(want) || enc != encrypted {
		t.Fatalf("%s: versions %v, %d encrypted; want %v, %d", dir, got, enc, want, encrypted)
	}
	for v, n := range want {
		if got[v] != n {
			t.Fatalf("%s: versions %v, want %v", dir, got, want)
		}
	}
}

// TestGoldenV2NeedsIdentity: without an identity for a recipient, a
// restore of the encrypted store fails before writing anything, naming the
// fingerprints it needs.
func TestGoldenV2NeedsIdentity(t *testing.T) {
	a, b := loadIdentities(t, goldenIdentityA), loadIdentities(t, goldenIdentityB)
	third, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	need := crypt.IdentityFingerprints(append(a, b...))
	st := openGolden(t, goldenV2Encrypted)
	for name, ids := range map[string][]*crypt.Identity{"none": nil, "a third": {third}} {
		for _, tgt := range []pitr.Target{{Latest: true}, {Time: goldenCases[3].target.Time}} {
			out := filepath.Join(t.TempDir(), "out")
			_, _, err := pitr.Restore(context.Background(), st, tgt, out, pitr.Options{Identities: ids})
			if !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("identity %s, %+v: %v, want ErrNoIdentity", name, tgt, err)
			}
			for _, fp := range need {
				if !strings.Contains(err.Error(), "fp "+fp.String()) {
					t.Fatalf("identity %s: %q does not name fp %s", name, err, fp)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "wal")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("identity %s: a failed restore left %s/wal (%v)", name, out, err)
			}
		}
	}
}

// TestGoldenV2NoPlaintext: no object of the encrypted store holds a text
// of the entries; the plain store's uncompressed segments do, so the
// search can fail.
func TestGoldenV2NoPlaintext(t *testing.T) {
	holds := func(dir string) []string {
		var found []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			for _, m := range goldenMarkers {
				if bytes.Contains(b, []byte(m)) {
					found = append(found, p+": "+m)
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if found := holds(goldenV2Encrypted); len(found) > 0 {
		t.Fatalf("the encrypted store holds plaintext: %v", found)
	}
	if found := holds(goldenV2Plain); len(found) == 0 {
		t.Fatal("the plain store holds no marker: the search proves nothing")
	}
}

// TestGoldenV2Damage: a flipped ciphertext byte is damage to verify, with
// and without a key, names the object, and fails a restore as corrupt;
// with another store's intact copy beside it the restore takes that.
func TestGoldenV2Damage(t *testing.T) {
	a := loadIdentities(t, goldenIdentityA)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(goldenV2Encrypted)); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "segments", "00000001", "*.wseg"))
	victim := paths[1]
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.ToSlash(strings.TrimPrefix(victim, dir+string(filepath.Separator)))
	damaged := openGolden(t, dir)
	for _, ids := range [][]*crypt.Identity{nil, a} {
		rep, err := pitr.VerifyWith(context.Background(), damaged, pitr.VerifyOptions{Identities: ids})
		if err != nil || rep.OK() || len(rep.Damaged) != 1 || rep.Damaged[0].Key != key {
			t.Fatalf("verify with %d identities: %+v %v, want %s damaged", len(ids), rep, err, key)
		}
	}
	_, _, err = pitr.Restore(context.Background(), damaged, pitr.Target{Latest: true}, t.TempDir(), pitr.Options{Identities: a})
	if !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), key) {
		t.Fatalf("restore of a damaged store: %v, want ErrCorrupt naming %s", err, key)
	}
	// With an intact copy beside it, the restore takes that copy.
	both := multi.New(multi.Member{Name: "damaged", Store: damaged}, multi.Member{Name: "intact", Store: openGolden(t, goldenV2Encrypted)})
	checkRestores(t, both, goldenCases[:1], pitr.Options{Identities: a})
}
