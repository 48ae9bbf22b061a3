package crypt

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRoundTripRecipients(t *testing.T) {
	id0, r0 := testIdentity(t, 0)
	id1, r1 := testIdentity(t, 1)
	id2, _ := testIdentity(t, 2)
	plain := randomBytes(t, 200<<10+17) // several 64 KiB chunks and a partial one

	cases := []struct {
		name string
		rs   []*Recipient
		open []*Identity // each opens alone
		not  []*Identity // each fails alone
	}{
		{"one recipient", []*Recipient{r0}, []*Identity{id0}, []*Identity{id1, id2}},
		{"two recipients", []*Recipient{r0, r1}, []*Identity{id0, id1}, []*Identity{id2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, fps, err := SealWithFingerprints(&buf, c.rs)
			if err != nil {
				t.Fatal(err)
			}
			if want := Fingerprints(c.rs); !equalFPs(fps, want) || len(fps) != len(c.rs) {
				t.Fatalf("fingerprints %v, want %v", fps, want)
			}
			if _, err := w.Write(plain); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			ct := buf.Bytes()
			if bytes.Contains(ct, plain[:64]) {
				t.Fatal("ciphertext holds plaintext")
			}
			for _, id := range c.open {
				got, err := open(ct, fps, id)
				if err != nil {
					t.Fatalf("open with %v: %v", id, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("open with %v: plaintext differs (%d bytes, want %d)", id, len(got), len(plain))
				}
			}
			for _, id := range c.not {
				_, err := open(ct, fps, id)
				var ne *NoIdentityError
				if !errors.Is(err, ErrNoIdentity) || !errors.As(err, &ne) {
					t.Fatalf("open with %v: %v, want ErrNoIdentity", id, err)
				}
				if errors.Is(err, ErrCorrupt) {
					t.Fatalf("wrong identity reported as damage: %v", err)
				}
				for _, fp := range fps {
					if !strings.Contains(err.Error(), fp.String()) {
						t.Errorf("error %q does not name fp %s", err, fp)
					}
				}
				if !strings.Contains(err.Error(), id.Fingerprint().String()) {
					t.Errorf("error %q does not name the identity given", err)
				}
			}
			// Several identities: the one that matches wins.
			if got, err := open(ct, nil, id2, c.open[len(c.open)-1]); err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("open with a wrong and a right identity: %v", err)
			}
		})
	}
}

func equalFPs(a, b []Fingerprint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRoundTripPassphrase(t *testing.T) {
	t.Setenv("TEST_WALSHIP_PASS", "correct horse battery staple")
	r, id, err := PassphraseFromEnv("TEST_WALSHIP_PASS", 10)
	if err != nil {
		t.Fatal(err)
	}
	plain := randomBytes(t, 70<<10)
	ct := seal(t, plain, r)
	got, err := open(ct, []Fingerprint{PassphraseFingerprint}, id)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open with the passphrase: %v", err)
	}

	// The same passphrase from a file.
	p := writeFile(t, "pass", "correct horse battery staple\n", 0o600)
	_, fid, err := ReadPassphraseFile(p, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := open(ct, nil, fid); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open with the passphrase from a file: %v", err)
	}

	// A wrong passphrase is a missing identity, not damage, even though its
	// fingerprint is the recorded one.
	t.Setenv("TEST_WALSHIP_PASS", "wrong")
	_, wrong, err := PassphraseFromEnv("TEST_WALSHIP_PASS", 10)
	if err != nil {
		t.Fatal(err)
	}
	_, err = open(ct, []Fingerprint{PassphraseFingerprint}, wrong)
	if !errors.Is(err, ErrNoIdentity) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong passphrase: %v, want ErrNoIdentity", err)
	}
	// An X25519 identity does not open a passphrase object, nor the reverse.
	x, xr := testIdentity(t, 0)
	if _, err := open(ct, nil, x); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("X25519 identity on a passphrase object: %v", err)
	}
	if _, err := open(seal(t, plain, xr), nil, id); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("passphrase on an X25519 object: %v", err)
	}
	// A passphrase cannot be mixed with other recipients.
	if _, err := Seal(io.Discard, []*Recipient{r, xr}); err == nil {
		t.Fatal("passphrase mixed with a recipient: no error")
	}
}

func TestPassphraseErrors(t *testing.T) {
	t.Setenv("TEST_WALSHIP_PASS", "")
	if _, _, err := PassphraseFromEnv("TEST_WALSHIP_PASS", 0); err == nil {
		t.Error("empty passphrase accepted")
	}
	t.Setenv("TEST_WALSHIP_PASS", "x")
	for _, wf := range []int{-1, 9, 23, 31} {
		if _, _, err := PassphraseFromEnv("TEST_WALSHIP_PASS", wf); err == nil {
			t.Errorf("work factor %d accepted", wf)
		}
	}
	p := writeFile(t, "pass", "hunter2-secret\n", 0o644)
	_, _, err := ReadPassphraseFile(p, 10)
	if !errors.Is(err, ErrInsecureKeyFile) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("passphrase file 0644: %v", err)
	}
}

func TestSealErrors(t *testing.T) {
	if _, err := Seal(io.Discard, nil); err == nil {
		t.Error("no recipients: no error")
	}
	if _, err := Seal(io.Discard, []*Recipient{nil}); err == nil {
		t.Error("nil recipient: no error")
	}
	if _, err := Open(strings.NewReader("x"), nil); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("no identities: %v, want ErrNoIdentity", err)
	}
}

func TestTruncatedFails(t *testing.T) {
	id, r := testIdentity(t, 0)
	plain := randomBytes(t, 3*64<<10) // exactly three full chunks
	ct := seal(t, plain, r)
	hdrEnd := bytes.Index(ct, []byte("\n--- ")) + 1
	cuts := []int{0, 1, hdrEnd - 1, hdrEnd + 10, len(ct) - 1, len(ct) - 16, len(ct) - 17}
	// Every chunk boundary, and a byte either side of it.
	payload := len(ct) - 3*(64<<10+16)
	for c := 0; c <= 3; c++ {
		b := payload + c*(64<<10+16)
		cuts = append(cuts, b-1, b, b+1)
	}
	for _, cut := range cuts {
		if cut < 0 || cut >= len(ct) {
			continue
		}
		got, err := open(ct[:cut], nil, id)
		if err == nil {
			t.Fatalf("cut at %d of %d: no error, %d bytes", cut, len(ct), len(got))
		}
		if !errors.Is(err, ErrAuth) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: %v, want ErrAuth", cut, len(ct), err)
		}
	}
	// Trailing bytes after the last chunk are refused too.
	if _, err := open(append(bytes.Clone(ct), 0), nil, id); !errors.Is(err, ErrAuth) {
		t.Fatalf("trailing byte: %v, want ErrAuth", err)
	}
}

func TestFlippedByteFails(t *testing.T) {
	id0, r0 := testIdentity(t, 0)
	_, r1 := testIdentity(t, 1)
	plain := randomBytes(t, 100<<10)
	ct := seal(t, plain, r0, r1)
	fps := Fingerprints([]*Recipient{r0, r1})
	hdrEnd := bytes.Index(ct, []byte("\n--- ")) + 1
	step := 1
	if testing.Short() {
		step = 97
	}
	for i := 0; i < len(ct); i += step {
		if i > hdrEnd+200 && i < len(ct)-700 {
			i += 499 // the middle of a chunk is all alike
		}
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		got, err := open(bad, fps, id0)
		if err == nil {
			t.Fatalf("flip at %d: no error (%d bytes)", i, len(got))
		}
		// With the fingerprints recorded, every flip is damage: a flip in
		// the other recipient's stanza or the MAC fails the header MAC, a flip
		// in ours makes our own key fail while the header says it is ours.
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("flip at %d (header ends at %d): %v, want ErrAuth", i, hdrEnd, err)
		}
	}
}

type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestSourceErrorIsNotDamage(t *testing.T) {
	id, r := testIdentity(t, 0)
	ct := seal(t, randomBytes(t, 200<<10), r)
	boom := errors.New("connection reset")
	for _, at := range []int{10, 100 << 10} {
		var err error
		pr, err := Open(&failingReader{r: bytes.NewReader(ct), n: at, err: boom}, []*Identity{id})
		if err == nil {
			_, err = io.ReadAll(pr)
		}
		if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("source fails at %d: %v, want the source's error and not ErrCorrupt", at, err)
		}
	}
}
