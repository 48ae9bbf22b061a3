package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/crypt"
)

// addEncrypted adds to the fixture the golden encrypted store ($ENC), a
// copy of it with a flipped ciphertext byte in its second segment
// ($ENC_DAMAGED), and key files: one of its identities (id-a, 0600), the
// same readable by others (id-loose), an identity it is not sealed to
// (id-other) and a file that holds no identity (id-garbage).
func (f *errFixture) addEncrypted(t *testing.T) {
	t.Helper()
	f.vars["ENC"] = copyStore(t, goldenEncrypted)
	damaged := copyStore(t, goldenEncrypted)
	f.vars["ENC_DAMAGED"] = damaged
	segs, _ := filepath.Glob(filepath.Join(damaged, "segments", "00000001", "*.wseg"))
	if len(segs) < 2 {
		t.Fatalf("%d segments in the golden encrypted store", len(segs))
	}
	b, err := os.ReadFile(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(segs[1], b, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(goldenIDA)
	if err != nil {
		t.Fatal(err)
	}
	_, other := thirdKey(t)
	f.write(t, "id-a", string(a))
	f.write(t, "id-loose", string(a))
	f.write(t, "id-other", other.SecretText()+"\n")
	f.write(t, "id-garbage", "# a comment, then\nnot a key\n")
	_, ids := keyFile(t, goldenIDA, 0o600)
	r, _ := ids[0].Recipient()
	f.write(t, "recipients-a", r.Text()+"\n")
	if err := os.Chmod(filepath.Join(f.root, "id-loose"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.addEncryptedBase(t, a)
}

// addEncryptedBase adds the golden encrypted base store ($ENC_BASE), a
// copy without its key record ($ENC_BASE_NOKEYS), and a config whose
// encrypted store's agent finds its chunk secret damaged (chunksecret.yml).
func (f *errFixture) addEncryptedBase(t *testing.T, identity []byte) {
	t.Helper()
	f.vars["ENC_BASE"] = copyStore(t, goldenEncryptedBase)
	nokeys := copyStore(t, goldenEncryptedBase)
	if err := os.RemoveAll(filepath.Join(nokeys, "keys")); err != nil {
		t.Fatal(err)
	}
	f.vars["ENC_BASE_NOKEYS"] = nokeys
	_, ids := writeKeyFile(t, identity, 0o600)
	r, _ := ids[0].Recipient()
	state := filepath.Join(f.root, "secret-state")
	f.write(t, filepath.Join("secret-state", crypt.ChunkSecretFile), "# walship chunk-name secret\n"+strings.Repeat("ab", crypt.ChunkSecretSize-1)+"\n")
	f.write(t, "chunksecret.yml", fmt.Sprintf("source: {wal: %q}\nstate: %q\nstores:\n  - {url: %q}\nencryption: {recipients: [%s]}\n",
		f.vars["WAL"], state, filepath.Join(f.root, "secret-store"), r.Text()))
}
