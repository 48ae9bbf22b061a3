package crypt

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Fixed test keys (never used outside tests): fixed so a fuzz input that
// fails replays, and so golden encrypted fixtures can be opened forever.
var testKeys = []struct{ secret, public string }{
	{"AGE-SECRET-KEY-14CFXSTCKYXSE4MQ3Y0MKJDEP5NJ966M342WSL2UMCDPK86DPZ7GSVU5UJD", "age1fa8x2kysgzfkzgwkqdeh0dxcsv9ut8uamppcldcpqfdzznvtmaxscznasz"},
	{"AGE-SECRET-KEY-1DCZ5XERPM47VZ8KSQ8577GZYQX44GKK3KFGC0Z2UDZAGDZ0ZCRKQXYWGVJ", "age1n4d4x7j4kdy4pxaae4y9kv2z4jwqyndv89xr0mzznw9vutqeav8qej7wpw"},
	{"AGE-SECRET-KEY-10HMZ0ECNDMMJKMGG9YY2GMTLKCTUA4S74HK3JNXGKCWDK4G69RNSQS2PE4", "age1jf6kw669jn3xe37ezvjazt79n8mxqxeh6q2cfchzdr0gzjet75rs9yekg4"},
}

// testIdentity returns test key i as an identity and its recipient.
func testIdentity(t testing.TB, i int) (*Identity, *Recipient) {
	t.Helper()
	ids, err := parseIdentityLines([]byte(testKeys[i].secret), "test key", "test")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRecipients([]string{testKeys[i].public})
	if err != nil {
		t.Fatal(err)
	}
	return ids[0], rs[0]
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func seal(t testing.TB, plain []byte, rs ...*Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Seal(&buf, rs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// open opens and reads all of ct; the error is the first of Open or Read.
func open(ct []byte, recorded []Fingerprint, ids ...*Identity) ([]byte, error) {
	r, err := OpenRecorded(bytes.NewReader(ct), ids, recorded)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func writeFile(t testing.TB, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask
		t.Fatal(err)
	}
	return p
}
