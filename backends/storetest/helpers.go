package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"testing"

	"github.com/walship/walship/backends"
)

// Helpers the stores' own tests share.

// ClosedPort returns a 127.0.0.1 address nothing listens on.
func ClosedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// RandBytes returns n random bytes.
func RandBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(randReader{}, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// FileBody returns b in a temporary file, positioned at its start: a body
// with ReadAt and Seek, as the agent's spool files are (SDKs stream such
// bodies instead of buffering them).
func FileBody(t testing.TB, b []byte) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "body")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f
}

// ReadAll reads a whole object.
func ReadAll(t testing.TB, st backends.Store, key string) []byte {
	t.Helper()
	rc, err := st.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return buf.Bytes()
}

// CancelReader yields After bytes of R, then cancels the upload's context
// and fails, as a client hanging up mid-upload would. Seek rewinds the count.
type CancelReader struct {
	R      *bytes.Reader
	After  int
	Cancel context.CancelFunc
	n      int
}

func (c *CancelReader) Read(p []byte) (int, error) {
	if c.n >= c.After {
		c.Cancel()
		return 0, context.Canceled
	}
	n, err := c.R.Read(p)
	c.n += n
	return n, err
}

// Seek implements io.Seeker.
func (c *CancelReader) Seek(off int64, whence int) (int64, error) {
	c.n = 0
	return c.R.Seek(off, whence)
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }
