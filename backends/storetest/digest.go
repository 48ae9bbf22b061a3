package storetest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
)

// MutatingReader is a body whose bytes change after they were first read:
// every read from offset 0 after the first (by Read or ReadAt) sees the
// first byte flipped. It stands for a local copy damaged between the
// digest a Put computes and the upload.
type MutatingReader struct {
	*bytes.Reader
	reads int // reads that started at offset 0
}

// NewMutatingReader returns a MutatingReader over b.
func NewMutatingReader(b []byte) *MutatingReader { return &MutatingReader{Reader: bytes.NewReader(b)} }

func (m *MutatingReader) Read(p []byte) (int, error) {
	pos := m.Reader.Size() - int64(m.Reader.Len())
	n, err := m.Reader.Read(p)
	m.mutate(p[:n], pos)
	return n, err
}

// ReadAt reads like Read.
func (m *MutatingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := m.Reader.ReadAt(p, off)
	m.mutate(p[:n], off)
	return n, err
}

func (m *MutatingReader) mutate(p []byte, off int64) {
	if off != 0 || len(p) == 0 {
		return
	}
	if m.reads++; m.reads > 1 {
		p[0] ^= 0xff
	}
}

// RunChangedBodyRefused checks that a Put whose body changes after the
// store computed its digest is refused by the service and leaves no
// object: the digest is checked by the service, not merely sent.
func RunChangedBodyRefused(t *testing.T, st backends.Store) {
	t.Helper()
	ctx := context.Background()
	err := st.Put(ctx, "changed", NewMutatingReader(RandBytes(t, 1000)), 1000)
	if err == nil {
		t.Fatal("put of a body that changed under its digest succeeded")
	}
	t.Log(err)
	if _, err := st.Stat(ctx, "changed"); !backends.IsNotFound(err) {
		t.Fatalf("stat after refused put: %v, want not found", err)
	}
}

// ChecksumHidingProxy starts a reverse proxy to target ("http://host:port")
// that removes every x-amz-checksum-* header from the answers: the server
// still checks what it is sent, but its answers no longer say so, as a
// service that ignores checksums answers. It returns the proxy's host:port.
func ChecksumHidingProxy(t testing.TB, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
				r.Header.Del(k)
			}
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// RunUnconfirmedDigest checks stores talking through a
// ChecksumHidingProxy (newStore makes one; md5 reports whether it sends
// Content-MD5 now). A fresh store learns from its conditional-write probe,
// before any real upload, that CRC32C is not confirmed: its first Put
// succeeds with Content-MD5. One that learns it from a real upload
// (skipProbe: no probe) fails that Put; a Put of that key again finds the
// object (ErrExists: the agent then compares it with its copy); a Put of a
// new key succeeds. Every object reads back whole.
func RunUnconfirmedDigest(t *testing.T, newStore func(t *testing.T) backends.Store, skipProbe func(backends.Store), md5 func(backends.Store) bool) {
	t.Helper()
	ctx := context.Background()
	put := func(st backends.Store, key string, b []byte) error {
		return st.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
	}
	t.Run("probe", func(t *testing.T) {
		st := newStore(t)
		a := RandBytes(t, 3000)
		if err := put(st, "first", a); err != nil {
			t.Fatalf("first put (after the probe): %v", err)
		}
		if !md5(st) {
			t.Fatal("the probe did not switch the store to Content-MD5")
		}
		if got := ReadAll(t, st, "first"); !bytes.Equal(got, a) {
			t.Fatalf("first reads back %d bytes, put %d", len(got), len(a))
		}
	})
	t.Run("upload", func(t *testing.T) {
		st := newStore(t)
		skipProbe(st)
		a, b := RandBytes(t, 3000), RandBytes(t, 4000)
		if err := put(st, "unconfirmed", a); err == nil || backends.IsExists(err) {
			t.Fatalf("put without a confirmed checksum: %v, want an error", err)
		}
		if !md5(st) {
			t.Fatal("the store still sends CRC32C after an answer that did not confirm it")
		}
		if err := put(st, "unconfirmed", a); !backends.IsExists(err) {
			t.Fatalf("put again: %v, want ErrExists", err)
		}
		if err := put(st, "md5", b); err != nil {
			t.Fatalf("put with Content-MD5: %v", err)
		}
		for key, want := range map[string][]byte{"unconfirmed": a, "md5": b} {
			if got := ReadAll(t, st, key); !bytes.Equal(got, want) {
				t.Fatalf("%s reads back %d bytes, put %d", key, len(got), len(want))
			}
		}
	})
}

// RunPaidOnce checks that an upload's bytes are read through the layers
// above the store (throttled is the store behind throttle.NewStore and the
// deadline decorator, as the agent stacks them) once, as they are sent:
// paid reports the bytes the limiter let through. A pass the store makes
// before the upload (its digest) must read the local body
// (backends.Local), not pay as upload traffic.
func RunPaidOnce(t *testing.T, throttled backends.Store, paid func() int64) {
	t.Helper()
	b := RandBytes(t, 4<<20)
	before := paid()
	if err := throttled.Put(context.Background(), "paid-once", bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	if got := paid() - before; got != int64(len(b)) {
		t.Fatalf("a Put of %d bytes paid for %d", len(b), got)
	}
}
