package crypt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretsNeverPrinted formats every secret-holding value every way a
// program might (fmt verbs, slog text and JSON, JSON, errors) and checks no
// output holds the secret.
func TestSecretsNeverPrinted(t *testing.T) {
	const pass = "tr0ub4dor&3-passphrase"
	t.Setenv("TEST_WALSHIP_PASS", pass)
	pr, pid, err := PassphraseFromEnv("TEST_WALSHIP_PASS", 10)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := testIdentity(t, 0)
	secret, err := NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	namer := NewChunkNamer(secret)

	// What must never appear: the key texts (and a long piece of them, in any
	// case), the passphrase, the raw secret and naming key in hex.
	forbidden := []string{
		testKeys[0].secret, strings.ToLower(testKeys[0].secret), testKeys[0].secret[16:40],
		pass, hex.EncodeToString(secret.key[:]), hex.EncodeToString(secret.key[:8]),
		hex.EncodeToString(namer.key[:8]), fmt.Sprint(secret.key[:4]), string(secret.key[:]),
	}

	values := map[string]any{
		"identity": id, "identity value": *id, "identities": []*Identity{id, pid},
		"passphrase identity": pid, "passphrase recipient": pr, "passphrase recipient value": *pr,
		"secret": secret, "secret value": *secret, "namer": namer, "namer value": *namer,
		"struct of pointers": struct {
			ID     *Identity
			Secret *ChunkSecret
			p      *Identity
		}{id, secret, pid},
		"map": map[string]*Identity{"k": id},
	}
	check := func(where, out string) {
		t.Helper()
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("%s prints a secret: %q", where, out)
			}
		}
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
			check(name+" "+verb, fmt.Sprintf(verb, v))
		}
		check(name+" Sprint", fmt.Sprint(v))
		check(name+" Sprintln", fmt.Sprintln(v))
		if b, err := json.Marshal(v); err == nil {
			check(name+" json", string(b))
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("keys", "v", v, slog.Any("any", v), slog.Group("g", "v", v))
		slog.New(slog.NewJSONHandler(&js, nil)).Info("keys", "v", v, slog.Any("any", v), slog.Group("g", "v", v))
		check(name+" slog text", text.String())
		check(name+" slog json", js.String())
		if text.Len() == 0 || js.Len() == 0 {
			t.Fatalf("%s: slog wrote nothing", name)
		}
	}
	// The printed forms do say which key: the fingerprint.
	if s := fmt.Sprint(id); !strings.Contains(s, id.Fingerprint().String()) {
		t.Errorf("identity prints as %q, without its fingerprint", s)
	}
	if s := fmt.Sprint(secret); !strings.Contains(s, secret.ID().String()) {
		t.Errorf("secret prints as %q, without its id", s)
	}

	// Errors of every path that handles a secret.
	_, r1 := testIdentity(t, 1)
	ct := seal(t, []byte("x"), r1)
	_, err1 := open(ct, nil, id, pid)
	bad := bytes.Clone(ct)
	bad[len(bad)-3] ^= 1
	_, err2 := open(bad, nil, id)
	rec, _ := EncodeKeyRecord(secret, []*Recipient{r1})
	_, err3 := DecodeKeyRecord(rec, []*Identity{id})
	p := writeFile(t, "identity", testKeys[0].secret+"\n", 0o644)
	_, err4 := ReadIdentityFile(p)
	p = writeFile(t, "identity", testKeys[0].secret+"x\n", 0o600)
	_, err5 := ReadIdentityFile(p)
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if err == nil {
			t.Fatalf("error %d: nil", i+1)
		}
		check(fmt.Sprintf("error %d", i+1), fmt.Sprintf("%v %+v %#v", err, err, err))
		for e := err; e != nil; e = errors.Unwrap(e) {
			check(fmt.Sprintf("error %d chain", i+1), e.Error())
		}
	}
}
