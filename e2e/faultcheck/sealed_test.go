package faultcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/crypt"
)

// goldenFingerprint is the fingerprint of one of the golden stores' test
// identities, from the public key its file names in a comment.
func goldenFingerprint(t *testing.T, name string) crypt.Fingerprint {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	_, pub, _ := strings.Cut(string(b), "public key: ")
	key := strings.Fields(pub)
	if len(key) == 0 {
		t.Fatalf("%s: no public key in a comment", name)
	}
	rs, err := crypt.ParseRecipients(key[:1])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rs[0].Fingerprint()
}

// TestCheckSealed proves the check of an encrypted store on the golden
// stores, sealed to test identities A and B: segments, timeline records,
// chunks and a base manifest sealed to A and B pass when A and B are
// wanted; plaintext objects (golden-v1, golden-mixed, and the encrypted
// base's timeline records, written plain) and objects sealed to a
// recipient besides the one wanted are each caught.
func TestCheckSealed(t *testing.T) {
	a := goldenFingerprint(t, "golden-v2-encrypted.identity")
	b := goldenFingerprint(t, "golden-v2-encrypted.identity-b")
	for _, c := range []struct {
		store string
		want  []crypt.Fingerprint
		found string // "" if the store passes
	}{
		{"golden-v2-encrypted", []crypt.Fingerprint{b, a}, ""},
		{"golden-v2-encrypted", []crypt.Fingerprint{a}, "want version 2 sealed to"},
		{"golden-v2-encrypted-base", []crypt.Fingerprint{a, b}, "PLAINTEXT timelines/00000001.json"},
		{"golden-v2-encrypted-base", []crypt.Fingerprint{b}, "want version 2 sealed to"},
		{"golden-v1", []crypt.Fingerprint{a}, "PLAINTEXT segments/"},
		{"golden-mixed", []crypt.Fingerprint{a, b}, "PLAINTEXT segments/"},
	} {
		rep, err := checkSealed(context.Background(), fileObjects{root: filepath.Join("../../testdata", c.store)}, c.want)
		if err != nil {
			t.Fatalf("%s: %v", c.store, err)
		}
		if rep.Segments == 0 || rep.Objects <= rep.Segments {
			t.Errorf("%s: %d objects, %d segments checked: the check read too little", c.store, rep.Objects, rep.Segments)
		}
		got := strings.Join(rep.Bad, "\n")
		switch {
		case c.found == "" && got != "":
			t.Errorf("%s sealed to %v: %s", c.store, c.want, got)
		case c.found != "" && !strings.Contains(got, c.found):
			t.Errorf("%s (want %v): found %q, want %q", c.store, c.want, got, c.found)
		}
		// The encrypted base's chunks and manifest are sealed to A and B.
		if c.store == "golden-v2-encrypted-base" && len(c.want) == 2 && (strings.Contains(got, "chunks/") || strings.Contains(got, "snapshots/")) {
			t.Errorf("%s: its sealed chunks or manifest reported: %s", c.store, got)
		}
	}
}

// TestCheckRefusal proves the check of a restore without an identity on
// the golden stores: the encrypted one is refused as it must be; the plain
// one restores, and the check calls that a wrong answer.
func TestCheckRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds walship")
	}
	ctx := context.Background()
	bin := testWalship(t)
	golden := func(name string) string {
		abs, err := filepath.Abs(filepath.Join("../../testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return "file://" + abs
	}
	enc := StoreURL{Name: "enc", URL: golden("golden-v2-encrypted")}
	if bad, wrong := checkRefusal(ctx, bin, childEnviron(), t.TempDir(), enc, true); bad != "" || wrong {
		t.Errorf("encrypted golden store restored without an identity: %s (wrong answer: %v)", bad, wrong)
	}
	plain := StoreURL{Name: "plain", URL: golden("golden-v2-plain")}
	if bad, wrong := checkRefusal(ctx, bin, childEnviron(), t.TempDir(), plain, true); bad == "" || !wrong {
		t.Errorf("a store that restores without an identity passed the check: %q (wrong answer: %v)", bad, wrong)
	}
}
