package crypt

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRecipients(t *testing.T) {
	rs, err := ParseRecipients([]string{"# ops laptop", testKeys[0].public, "", "  " + testKeys[1].public + "  "})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Text() != testKeys[0].public || rs[1].Text() != testKeys[1].public {
		t.Fatalf("got %v", rs)
	}
	p := writeFile(t, "recipients", "# backups\n"+testKeys[2].public+"\n\n"+testKeys[0].public+"\n", 0o644)
	rs, err = ReadRecipientsFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Text() != testKeys[2].public {
		t.Fatalf("from file: got %v", rs)
	}

	bad := []struct {
		list []string
		want string
	}{
		{nil, "no recipients"},
		{[]string{"# only a comment"}, "no recipients"},
		{[]string{testKeys[0].public, "age1notakey"}, "entry 2: malformed"},
		{[]string{"ssh-ed25519 AAAA"}, "entry 1: not an age X25519 recipient"},
		{[]string{testKeys[0].secret}, "entry 1: this is a secret key"},
	}
	for _, c := range bad {
		_, err := ParseRecipients(c.list)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRecipients(%q): %v, want %q", c.list, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET") {
			t.Errorf("error echoes a secret key: %v", err)
		}
	}
}

func TestReadIdentityFile(t *testing.T) {
	text := "# created: today\n# public key: " + testKeys[0].public + "\n" + testKeys[0].secret + "\n" + testKeys[1].secret + "\n"
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		p := writeFile(t, "identity", text, mode)
		ids, err := ReadIdentityFile(p)
		if err != nil {
			t.Fatalf("mode %04o: %v", mode, err)
		}
		if len(ids) != 2 {
			t.Fatalf("mode %04o: %d identities, want 2", mode, len(ids))
		}
		if !strings.Contains(ids[1].Source(), p+" line 4") {
			t.Errorf("source %q does not name the file and line", ids[1].Source())
		}
	}
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		p := writeFile(t, "identity", text, mode)
		_, err := ReadIdentityFile(p)
		if !errors.Is(err, ErrInsecureKeyFile) {
			t.Fatalf("mode %04o: %v, want ErrInsecureKeyFile", mode, err)
		}
		if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, fmt.Sprintf("%04o", mode)) || !strings.Contains(msg, "chmod 600") {
			t.Errorf("mode %04o: error %q does not name the file, its mode and the fix", mode, msg)
		}
	}
	if _, err := ReadIdentityFile(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
	if _, err := ReadIdentityFile(t.TempDir()); err == nil {
		t.Error("a directory: no error")
	}
	// Malformed lines are named by line, never echoed.
	mangled := testKeys[0].secret[:40] + "X" + testKeys[0].secret[41:]
	for _, body := range []string{"# nothing\n", mangled + "\n", "# c\n" + testKeys[0].public + "\n"} {
		p := writeFile(t, "identity", body, 0o600)
		_, err := ReadIdentityFile(p)
		if err == nil {
			t.Fatalf("%q: no error", body)
		}
		if strings.Contains(err.Error(), mangled[16:30]) {
			t.Errorf("error echoes the key: %v", err)
		}
	}
}

func TestIdentitiesFromEnv(t *testing.T) {
	t.Setenv(IdentityEnv, testKeys[1].secret+"\n"+testKeys[2].secret)
	ids, err := IdentitiesFromEnv("")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].Source() != "env "+IdentityEnv+" line 1" {
		t.Fatalf("got %v", ids)
	}
	t.Setenv(IdentityEnv, "")
	if _, err := IdentitiesFromEnv(""); err == nil || !strings.Contains(err.Error(), IdentityEnv) {
		t.Fatalf("empty variable: %v", err)
	}
	t.Setenv("OTHER_IDENTITY", "AGE-SECRET-KEY-1QQQQ")
	if _, err := IdentitiesFromEnv("OTHER_IDENTITY"); err == nil || strings.Contains(err.Error(), "QQQQ") {
		t.Fatalf("malformed: %v", err)
	}
}

func TestFingerprints(t *testing.T) {
	id0, r0 := testIdentity(t, 0)
	_, r1 := testIdentity(t, 1)
	// Stable: a fixed key has a fixed fingerprint (headers store it forever).
	// The first 8 bytes of SHA-256("age1fa8x..."), as `sha256sum` shows them.
	if got, want := r0.Fingerprint().String(), "0caf4fcbd8ad0a3f"; got != want {
		t.Fatalf("fingerprint %s, want %s", got, want)
	}
	// An identity's fingerprint is its derived recipient's.
	if id0.Fingerprint() != r0.Fingerprint() {
		t.Fatalf("identity fp %s, recipient fp %s", id0.Fingerprint(), r0.Fingerprint())
	}
	dr, ok := id0.Recipient()
	if !ok || dr.Text() != testKeys[0].public {
		t.Fatalf("derived recipient %v", dr)
	}
	if r0.Fingerprint() == r1.Fingerprint() {
		t.Fatal("two keys, one fingerprint")
	}
	// Sorted, without repeats.
	fps := Fingerprints([]*Recipient{r1, r0, r1, nil})
	if len(fps) != 2 || string(fps[0][:]) > string(fps[1][:]) {
		t.Fatalf("Fingerprints = %v", fps)
	}
	// Text round trip, and the passphrase form.
	for _, fp := range []Fingerprint{r0.Fingerprint(), PassphraseFingerprint} {
		b, _ := fp.MarshalText()
		var back Fingerprint
		if err := back.UnmarshalText(b); err != nil || back != fp {
			t.Fatalf("round trip %s: %v %s", fp, err, back)
		}
	}
	if PassphraseFingerprint.String() != "passphrase" {
		t.Fatal(PassphraseFingerprint.String())
	}
	for _, s := range []string{"", "1a2b", "1A2B3C4D5E6F7A8B", "1a2b3c4d5e6f7a8g", "1a2b3c4d5e6f7a8b0"} {
		if _, err := ParseFingerprint(s); err == nil {
			t.Errorf("ParseFingerprint(%q): no error", s)
		}
	}
	if s := r0.String(); !strings.HasPrefix(s, "age1") || !strings.Contains(s, "(fp "+r0.Fingerprint().String()+")") {
		t.Errorf("recipient String %q", s)
	}
}
