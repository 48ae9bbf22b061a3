package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/crypt"
)

// The golden encrypted store (segment format v2, sealed to the two test
// identities beside it) through the CLI. git does not keep the identity
// files' 0600 mode, so the tests copy them to 0600 files first.
const (
	goldenEncrypted = "../../testdata/golden-v2-encrypted"
	goldenPlain     = "../../testdata/golden-v2-plain"
	goldenMixed     = "../../testdata/golden-mixed"
	goldenIDA       = "../../testdata/golden-v2-encrypted.identity"
	goldenIDB       = "../../testdata/golden-v2-encrypted.identity-b"
)

// copyStore copies a golden store into a new temp dir (a file store
// writes its own temp dir into the store it opens).
func copyStore(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keyFile copies an identity file to a new file of the given mode and
// returns its path and the identities it holds.
func keyFile(t *testing.T, src string, mode os.FileMode) (string, []*crypt.Identity) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return writeKeyFile(t, b, mode)
}

func writeKeyFile(t *testing.T, b []byte, mode os.FileMode) (string, []*crypt.Identity) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := crypt.ReadIdentityFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p, ids
}

// thirdKey writes a new identity no golden object is sealed to.
func thirdKey(t *testing.T) (string, *crypt.Identity) {
	t.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := writeKeyFile(t, []byte(id.SecretText()+"\n"), 0o600)
	return p, id
}

// sameLog fails unless the log files of dirs a and b are byte-identical.
func sameLog(t *testing.T, a, b string) {
	t.Helper()
	fa, _ := filepath.Glob(filepath.Join(a, "*"))
	fb, _ := filepath.Glob(filepath.Join(b, "*"))
	if len(fa) == 0 || len(fa) != len(fb) {
		t.Fatalf("%s holds %d files, %s %d", a, len(fa), b, len(fb))
	}
	for i := range fa {
		x, err1 := os.ReadFile(fa[i])
		y, err2 := os.ReadFile(fb[i])
		if err1 != nil || err2 != nil || filepath.Base(fa[i]) != filepath.Base(fb[i]) || !bytes.Equal(x, y) {
			t.Fatalf("%s and %s differ (%v %v)", fa[i], fb[i], err1, err2)
		}
	}
}

// mustNotExist fails if path exists.
func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists after a failed restore (%v)", path, err)
	}
}

// refusal checks a failed run: exit 1, one line on stderr naming every
// fingerprint in need, and how to give an identity.
func refusal(t *testing.T, code int, stderr string, need []crypt.Fingerprint, hint string) {
	t.Helper()
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("exit %d, want 1 and one line:\n%s", code, stderr)
	}
	for _, fp := range need {
		if !strings.Contains(stderr, "fp "+fp.String()) {
			t.Fatalf("%q does not name fp %s", stderr, fp)
		}
	}
	if !strings.Contains(stderr, hint) {
		t.Fatalf("%q does not say %q", stderr, hint)
	}
}

func TestRestoreEncryptedCLI(t *testing.T) {
	logs := captureLogs(t)
	st := copyStore(t, goldenEncrypted)
	keyA, idsA := keyFile(t, goldenIDA, 0o600)
	keyB, idsB := keyFile(t, goldenIDB, 0o600)
	need := crypt.IdentityFingerprints(append(append([]*crypt.Identity{}, idsA...), idsB...))
	ref := filepath.Join(t.TempDir(), "ref")
	if code, _, stderr := walship(t, "restore", copyStore(t, goldenPlain), ref); code != 0 {
		t.Fatalf("restore of the plain golden store: %d %s", code, stderr)
	}
	root := t.TempDir()

	t.Run("no identity", func(t *testing.T) {
		out := filepath.Join(root, "none")
		code, _, stderr := walship(t, "restore", st, out)
		refusal(t, code, stderr, need, "--identity FILE or WALSHIP_AGE_IDENTITY")
		mustNotExist(t, out)
	})
	t.Run("wrong identity", func(t *testing.T) {
		third, id := thirdKey(t)
		out := filepath.Join(root, "wrong")
		code, _, stderr := walship(t, "restore", st, out, "--identity", third)
		refusal(t, code, stderr, need, "the identities given open fp "+id.Fingerprint().String())
		mustNotExist(t, out)
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		t.Setenv(crypt.PassphraseEnv, "not the key")
		out := filepath.Join(root, "pass")
		code, _, stderr := walship(t, "restore", st, out)
		refusal(t, code, stderr, need, "the identities given open fp passphrase")
		mustNotExist(t, out)
	})
	t.Run("mixed store, up to an encrypted segment", func(t *testing.T) {
		out := filepath.Join(root, "mixed")
		code, _, stderr := walship(t, "restore", copyStore(t, goldenMixed), out)
		refusal(t, code, stderr, crypt.IdentityFingerprints(idsA), "--identity FILE")
		mustNotExist(t, out)
	})
	t.Run("identity file others can read", func(t *testing.T) {
		loose, _ := keyFile(t, goldenIDA, 0o644)
		out := filepath.Join(root, "loose")
		code, _, stderr := walship(t, "restore", st, out, "--identity", loose)
		if code != 2 || !strings.Contains(stderr, "has mode 0644") || !strings.Contains(stderr, "chmod 600 "+loose) {
			t.Fatalf("exit %d, want 2 naming the mode: %s", code, stderr)
		}
		mustNotExist(t, out)
	})
	t.Run("identity A", func(t *testing.T) {
		out := filepath.Join(root, "a")
		code, stdout, stderr := walship(t, "restore", st, out, "--identity", keyA, "--log-level", "debug")
		if code != 0 || !strings.Contains(stdout, "measured on a sample of 4 segments") {
			t.Fatalf("restore: %d, want 0 and an estimate measured with the identity:\n%s\n%s", code, stdout, stderr)
		}
		sameLog(t, filepath.Join(out, "wal"), filepath.Join(ref, "wal"))
	})
	t.Run("identity B from the environment, beside a wrong file", func(t *testing.T) {
		b, _ := os.ReadFile(goldenIDB)
		t.Setenv(crypt.IdentityEnv, string(b))
		third, _ := thirdKey(t)
		out := filepath.Join(root, "b")
		if code, _, stderr := walship(t, "restore", st, out, "--identity", third, "--log-level", "debug"); code != 0 {
			t.Fatalf("restore: %d %s", code, stderr)
		}
		sameLog(t, filepath.Join(out, "wal"), filepath.Join(ref, "wal"))
	})
	t.Run("config and identity", func(t *testing.T) {
		cfg := filepath.Join(root, "one.yml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, "stores:\n  - {name: enc, url: %q}\n", st), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(root, "cfg")
		if code, _, stderr := walship(t, "restore", "--config", cfg, out, "--identity", keyB, "--index", "150"); code != 0 {
			t.Fatalf("restore: %d %s", code, stderr)
		}
	})
	t.Run("mark", func(t *testing.T) {
		code, _, stderr := walship(t, "mark", st, "p1", "--time", "2026-01-02T03:04:05.2Z")
		refusal(t, code, stderr, need, "--identity FILE")
		// The segments are encrypted, so a plain point is refused.
		code, _, stderr = walship(t, "mark", st, "p1", "--time", "2026-01-02T03:04:05.2Z", "--identity", keyA)
		if code != 1 || !strings.Contains(stderr, "would be plain in an encrypted store") || !strings.Contains(stderr, "--encrypt-to FILE") {
			t.Fatalf("plain mark: %d %s", code, stderr)
		}
		rcpt, _ := idsA[0].Recipient()
		rfile := filepath.Join(root, "recipients")
		if err := os.WriteFile(rfile, []byte(rcpt.Text()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := walship(t, "mark", st, "p1", "--time", "2026-01-02T03:04:05.2Z", "--identity", keyA, "--encrypt-to", rfile)
		if code != 0 || !strings.Contains(stdout, "index 200") {
			t.Fatalf("mark: %d %s %s", code, stdout, stderr)
		}
		// Without an identity list shows the clear fields; with one, the times.
		code, stdout, stderr = walship(t, "list", st, "points")
		if code != 0 || !strings.Contains(stdout, "p1") || !strings.Contains(stdout, "sealed") {
			t.Fatalf("list points: %d %s %s", code, stdout, stderr)
		}
		code, stdout, stderr = walship(t, "list", st, "points", "--identity", keyA)
		if code != 0 || !strings.Contains(stdout, "2026-01-02T03:04:05.2Z") {
			t.Fatalf("list points with an identity: %d %s %s", code, stdout, stderr)
		}
		code, _, stderr = walship(t, "restore", st, filepath.Join(root, "p1"), "--point", "p1", "--identity", keyA)
		if code != 0 {
			t.Fatalf("restore to the encrypted point: %d %s", code, stderr)
		}
	})
	for _, id := range append(idsA, idsB...) {
		if s := id.SecretText(); strings.Contains(logs.String(), s) || strings.Contains(logs.String(), strings.ToLower(s)) {
			t.Fatal("an identity's secret is in the logs")
		}
	}
	if !strings.Contains(logs.String(), "identities loaded") {
		t.Fatalf("no debug record of the identities used:\n%s", logs)
	}
}

// TestEncryptedDamageCLI: a flipped ciphertext byte is damage to verify
// (exit 3, naming the object) with and without an identity, fails a
// restore from that store alone, and a restore from it and an intact copy
// takes the intact one.
func TestEncryptedDamageCLI(t *testing.T) {
	captureLogs(t)
	bad, good := copyStore(t, goldenEncrypted), copyStore(t, goldenEncrypted)
	keyA, _ := keyFile(t, goldenIDA, 0o600)
	segs, _ := filepath.Glob(filepath.Join(bad, "segments", "00000001", "*.wseg"))
	victim := segs[1]
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	key := "segments/00000001/" + filepath.Base(victim)
	for _, args := range [][]string{{"verify", bad}, {"verify", bad, "--identity", keyA}} {
		code, stdout, stderr := walship(t, args...)
		if code != 3 || !strings.Contains(stdout, "DAMAGED "+key+": corrupt object") {
			t.Fatalf("%v: exit %d, want 3 naming %s:\n%s\n%s", args, code, key, stdout, stderr)
		}
	}
	if code, stdout, stderr := walship(t, "verify", good, "--identity", keyA); code != 0 || !strings.Contains(stdout, "370 intact entries") {
		t.Fatalf("verify of the intact copy: %d\n%s\n%s", code, stdout, stderr)
	}
	root := t.TempDir()
	out := filepath.Join(root, "bad")
	code, _, stderr := walship(t, "restore", bad, out, "--identity", keyA)
	if code != 1 || !strings.Contains(stderr, key) || !strings.Contains(stderr, "corrupt object") {
		t.Fatalf("restore from the damaged store: exit %d, want 1 naming %s: %s", code, key, stderr)
	}
	mustNotExist(t, out)
	cfg := filepath.Join(root, "two.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "stores:\n  - {name: bad, url: %q}\n  - {name: good, url: %q}\n", bad, good), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(root, "ref")
	if code, _, stderr := walship(t, "restore", good, ref, "--identity", keyA); code != 0 {
		t.Fatalf("restore from the intact copy: %d %s", code, stderr)
	}
	out = filepath.Join(root, "both")
	if code, _, stderr := walship(t, "restore", "--config", cfg, "--prefer", "bad", out, "--identity", keyA); code != 0 {
		t.Fatalf("restore from both: %d %s", code, stderr)
	}
	sameLog(t, filepath.Join(out, "wal"), filepath.Join(ref, "wal"))
}
