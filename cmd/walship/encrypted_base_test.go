package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/crypt"
)

const goldenEncryptedBase = "../../testdata/golden-v2-encrypted-base"

// The golden encrypted base through the CLI: list and restore --dry-run
// need no identity; restore needs one (a refusal names both fingerprints
// and writes nothing); verify without one checks it as stored and says
// so; copy takes the key record along, so the copy restores; a flipped
// chunk byte makes verify exit 3 naming the chunk.
func TestEncryptedBaseCLI(t *testing.T) {
	st := copyStore(t, goldenEncryptedBase)
	keyA, idsA := keyFile(t, goldenIDA, 0o600)
	_, idsB := keyFile(t, goldenIDB, 0o600)
	need := crypt.IdentityFingerprints(append(append([]*crypt.Identity{}, idsA...), idsB...))
	root := t.TempDir()

	code, out, stderr := walship(t, "list", st, "snapshots")
	if code != 0 || !strings.Contains(out, "encrypted") || !strings.Contains(out, "00000000000000000150-") {
		t.Fatalf("list: %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = walship(t, "restore", st, filepath.Join(root, "dry"), "--index", "150", "--dry-run")
	if code != 0 || !strings.Contains(out, "00000000000000000150-") {
		t.Fatalf("dry run: %d\n%s%s", code, out, stderr)
	}
	// --index 150 needs the base alone: the refusal is the base's.
	refused := filepath.Join(root, "refused")
	code, _, stderr = walship(t, "restore", st, refused, "--index", "150")
	refusal(t, code, stderr, need, "--identity FILE or WALSHIP_AGE_IDENTITY")
	if !strings.Contains(stderr, "base snapshot") {
		t.Fatalf("the refusal does not name the base: %s", stderr)
	}
	mustNotExist(t, refused)
	restored := filepath.Join(root, "a")
	if code, out, stderr := walship(t, "restore", st, restored, "--index", "200", "--identity", keyA); code != 0 {
		t.Fatalf("restore: %d\n%s%s", code, out, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(restored, "data", "db", "small")); err != nil || string(b) != "golden base file: small" {
		t.Fatalf("restored base file: %q %v", b, err)
	}

	code, out, _ = walship(t, "verify", st)
	if code != 0 || !strings.Contains(out, "4 encrypted segment(s) checked as stored") || !strings.Contains(out, "encrypted chunk(s) checked as stored") || !strings.Contains(out, "OK") {
		t.Fatalf("verify without identity: %d\n%s", code, out)
	}
	code, out, _ = walship(t, "verify", st, "--identity", keyA)
	if code != 0 || strings.Contains(out, "checked as stored") {
		t.Fatalf("verify with identity: %d\n%s", code, out)
	}

	copied := filepath.Join(root, "copy")
	if err := os.MkdirAll(copied, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := walship(t, "copy", st, copied); code != 0 {
		t.Fatalf("copy: %d\n%s%s", code, out, stderr)
	}
	if keys, _ := filepath.Glob(filepath.Join(copied, "keys", "chunk-secret", "*.wkey")); len(keys) != 1 {
		t.Fatalf("copy took %d key records along", len(keys))
	}
	if code, out, stderr := walship(t, "restore", copied, filepath.Join(root, "from-copy"), "--index", "150", "--identity", keyA); code != 0 {
		t.Fatalf("restore from the copy: %d\n%s%s", code, out, stderr)
	}
	// Without keys/ the base still restores (files checked by SHA-256),
	// and verify reports the missing record.
	if err := os.RemoveAll(filepath.Join(copied, "keys")); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := walship(t, "restore", copied, filepath.Join(root, "no-keys"), "--index", "150", "--identity", keyA); code != 0 {
		t.Fatalf("restore without the key record: %d\n%s%s", code, out, stderr)
	}
	if code, out, _ := walship(t, "verify", copied); code != 3 || !strings.Contains(out, "no intact key record") {
		t.Fatalf("verify without the key record: exit %d\n%s", code, out)
	}

	chunks, _ := filepath.Glob(filepath.Join(st, "chunks", "*", "*"))
	b, err := os.ReadFile(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 1
	if err := os.WriteFile(chunks[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.ToSlash(strings.TrimPrefix(chunks[0], st+string(filepath.Separator)))
	for _, extra := range [][]string{nil, {"--identity", keyA}} {
		code, out, _ := walship(t, append([]string{"verify", st}, extra...)...)
		if code != 3 || !strings.Contains(out, "DAMAGED "+key) {
			t.Fatalf("verify %v of a flipped chunk: exit %d, want 3 naming %s:\n%s", extra, code, key, out)
		}
	}
}
