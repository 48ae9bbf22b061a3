package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/crypt"
)

func newRecipient(t *testing.T) (string, *crypt.Identity) {
	t.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := id.Recipient()
	return r.Text(), id
}

// The top-level recipients are every store's default; encrypt: false keeps
// a store plain; a store's own section replaces the default; a recipients
// file adds to the list.
func TestEncryptionPerStore(t *testing.T) {
	a, idA := newRecipient(t)
	b, idB := newRecipient(t)
	c, idC := newRecipient(t)
	file := filepath.Join(t.TempDir(), "recipients.txt")
	if err := os.WriteFile(file, []byte("# team key\n"+c+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(fmt.Sprintf(`
encryption: {recipients: [%s], recipients_file: %s}
stores:
  - {name: local, url: "file:///l", encrypt: false}
  - {name: cloud, url: "file:///c"}
  - {name: other, url: "file:///o", encryption: {recipients: ["%s", "%s"]}}
  - {name: sure, url: "file:///s", encrypt: true}
`, a, file, b, b)))
	if err != nil {
		t.Fatal(err)
	}
	fps := func(rs []*crypt.Recipient) string { return fmt.Sprint(crypt.Fingerprints(rs)) }
	ids := func(ids ...*crypt.Identity) string { return fmt.Sprint(crypt.IdentityFingerprints(ids)) }
	if got := cfg.Stores[0].Recipients(); got != nil {
		t.Errorf("local: %v, want plain", got)
	}
	if got, want := fps(cfg.Stores[1].Recipients()), ids(idA, idC); got != want {
		t.Errorf("cloud: %s, want %s", got, want)
	}
	if got, want := fps(cfg.Stores[2].Recipients()), ids(idB); got != want {
		t.Errorf("other: %s, want %s", got, want)
	}
	if got, want := fps(cfg.Stores[3].Recipients()), ids(idA, idC); got != want {
		t.Errorf("sure: %s, want %s", got, want)
	}
	if got, want := fps(cfg.DefaultRecipients()), ids(idA, idC); got != want {
		t.Errorf("default: %s, want %s", got, want)
	}
	plain, err := Parse([]byte(`stores: [{url: "file:///x"}]`))
	if err != nil || plain.Stores[0].Recipients() != nil || plain.DefaultRecipients() != nil {
		t.Fatalf("no encryption section: %v %v", plain.Stores[0].Recipients(), err)
	}
}

// Every mistake is named by its key path, and a secret key pasted where a
// recipient goes is refused without any of it in the message.
func TestEncryptionErrors(t *testing.T) {
	a, _ := newRecipient(t)
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	secret := id.SecretText()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret.txt")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	many := make([]string, 17)
	for i := range many {
		many[i], _ = newRecipient(t)
	}
	cases := []struct{ doc, want string }{
		{fmt.Sprintf("encryption: {recipients: [%s, %s]}", a, secret), "encryption.recipients[1]: this is a secret key, not a recipient"},
		{fmt.Sprintf("encryption: {recipients: %s}", secret), "encryption.recipients (line 1): got \"(an age secret key, not shown)\""},
		{fmt.Sprintf("stores: [{url: x, encryption: {recipients: [%s]}}]", secret), "stores[0].encryption.recipients[0]: this is a secret key"},
		{fmt.Sprintf("encryption: {recipients_file: %s}", secretFile), "encryption.recipients_file: recipients file " + secretFile + " line 1: this is a secret key"},
		{fmt.Sprintf("%s: 1", secret), "unknown key"},
		{"encryption: {recipients: [age1nope]}", "encryption.recipients[0]: malformed age X25519 recipient"},
		{"encryption: {recipients: [ssh-ed25519 AAAA]}", "encryption.recipients[0]: not an age X25519 recipient"},
		{"encryption: {recipients_file: " + filepath.Join(dir, "missing") + "}", "encryption.recipients_file: read key file"},
		{"stores: [{url: x, encryption: {}}]", "stores[0].encryption: no recipients"},
		{"stores: [{url: x, encrypt: true}]", "stores[0] (store1): encrypt: true but no recipients"},
		{fmt.Sprintf("stores: [{url: x, encrypt: false, encryption: {recipients: [%s]}}]", a), "stores[0] (store1): encrypt: false and an encryption section"},
		{"encryption: {recipients: [" + strings.Join(many, ", ") + "]}", "encryption: 17 recipients, at most 16"},
		{"stores: [{url: x, encryption: {recipients: [" + strings.Join(many, ", ") + "]}}]", "stores[0] (store1): encrypted to 17 recipients, at most 16"},
		{"encryption: {recipient: [x]}", "did you mean recipients?"},
		{"stores: [{url: x, encrypt: maybe}]", "stores[0].encrypt (line 1): got \"maybe\"; want true or false"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: error %v, want it to mention %q", tc.doc, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "AGE-SECRET-KEY-1") || strings.Contains(err.Error(), secret[20:40]) {
			t.Errorf("%.60q: the message shows the secret key: %v", tc.doc, err)
		}
	}
}

// The new keys' examples fit the config (the shape walk's messages offer
// them).
func TestEncryptionShapeExamples(t *testing.T) {
	for _, doc := range []string{"encryption: {recipients: 3}", "stores: [{url: x, encryption: [a]}]", "stores: [{url: x, encrypt: [a]}]"} {
		_, err := Parse([]byte(doc))
		if err == nil {
			t.Fatalf("%q parsed", doc)
		}
		_, example, ok := strings.Cut(err.Error(), "e.g. ")
		if !ok {
			t.Fatalf("%q: no example in %v", doc, err)
		}
		if _, err := Parse([]byte(example)); err != nil && !strings.Contains(err.Error(), "url is required") {
			t.Errorf("%q: the example %q does not parse: %v", doc, example, err)
		}
	}
}
