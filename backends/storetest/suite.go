// Package storetest is the one conformance suite every backends.Store must
// pass. A store's test calls Run with a constructor that returns a fresh,
// empty store (for a shared server: a new random prefix) per subtest.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/backends"
)

// Options tune the suite to a store's cost.
type Options struct {
	// ListKeys is how many keys the paging test writes (default 2500).
	ListKeys int
	// Large enables the 64 MiB round trip.
	Large bool
	// MultipartSize, when set, is an object size that takes the store's
	// multipart (staged-block) upload path; NoOverwrite then also proves a
	// large create is refused. Set the store's part size small in tests so
	// the round trips (5 MiB+1, 64 MiB) and the cancel test go multipart too.
	MultipartSize int
	// CancelSize is the object the cancel test uploads (default 8 MiB) and
	// CancelAfter how many bytes it reads before cancelling (default 1 MiB).
	// Make CancelAfter exceed the part size so parts are in flight when the
	// context goes.
	CancelSize, CancelAfter int
}

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) backends.Store, opt Options) {
	if opt.ListKeys == 0 {
		opt.ListKeys = 2500
	}
	if opt.CancelSize == 0 {
		opt.CancelSize = 8 << 20
	}
	if opt.CancelAfter == 0 {
		opt.CancelAfter = 1 << 20
	}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t), opt) })
	t.Run("NoOverwrite", func(t *testing.T) { testNoOverwrite(t, newStore(t), opt) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("Range", func(t *testing.T) { testRange(t, newStore(t)) })
	t.Run("ListSeek", func(t *testing.T) { testListSeek(t, newStore(t)) })
	t.Run("ListPaging", func(t *testing.T) { testListPaging(t, newStore(t), opt.ListKeys) })
	t.Run("CancelMidUpload", func(t *testing.T) { testCancel(t, newStore(t), opt) })
	t.Run("BadKey", func(t *testing.T) { testBadKey(t, newStore(t)) })
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, s backends.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("put %s (%d bytes): %v", key, len(b), err)
	}
}

func get(t *testing.T, s backends.Store, key string, off, n int64) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func testRoundTrip(t *testing.T, s backends.Store, opt Options) {
	sizes := []int{0, 1, 5<<20 + 1}
	if opt.Large {
		sizes = append(sizes, 64<<20)
	}
	for _, n := range sizes {
		key := fmt.Sprintf("rt/obj-%d", n)
		want := randBytes(t, n)
		put(t, s, key, want)
		if got := get(t, s, key, 0, -1); !bytes.Equal(got, want) {
			t.Fatalf("%s: got %d bytes back, want %d identical bytes", key, len(got), n)
		}
		oi, err := s.Stat(context.Background(), key)
		if err != nil || oi.Size != int64(n) || oi.Key != key {
			t.Fatalf("stat %s = %+v, %v; want size %d", key, oi, err, n)
		}
	}
}

func testNoOverwrite(t *testing.T, s backends.Store, opt Options) {
	put(t, s, "a/key", []byte("first"))
	err := s.Put(context.Background(), "a/key", bytes.NewReader([]byte("second!")), 7)
	if !errors.Is(err, backends.ErrExists) {
		t.Fatalf("second put: got %v, want ErrExists", err)
	}
	if got := get(t, s, "a/key", 0, -1); string(got) != "first" {
		t.Fatalf("object changed by refused put: %q", got)
	}
	if opt.MultipartSize > 0 {
		first := randBytes(t, opt.MultipartSize)
		put(t, s, "a/large", first)
		second := randBytes(t, opt.MultipartSize)
		err := s.Put(context.Background(), "a/large", bytes.NewReader(second), int64(len(second)))
		if !errors.Is(err, backends.ErrExists) {
			t.Fatalf("second large put: got %v, want ErrExists", err)
		}
		if got := get(t, s, "a/large", 0, -1); !bytes.Equal(got, first) {
			t.Fatalf("large object changed by refused put")
		}
	}
}

// testConcurrentCreate races several creates of one key: exactly one wins,
// every other gets ErrExists, and the object holds the winner's bytes. A
// check-then-write store without an atomic create fails here.
func testConcurrentCreate(t *testing.T, s backends.Store) {
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := []byte(fmt.Sprintf("writer-%d", i))
			errs[i] = s.Put(context.Background(), "race/key", bytes.NewReader(b), int64(len(b)))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatalf("writers %d and %d both created race/key", winner, i)
		case !errors.Is(err, backends.ErrExists):
			t.Fatalf("writer %d: got %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created race/key")
	}
	if got := get(t, s, "race/key", 0, -1); string(got) != fmt.Sprintf("writer-%d", winner) {
		t.Fatalf("race/key holds %q, want writer-%d's bytes", got, winner)
	}
}

func testNotFound(t *testing.T, s backends.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "missing/key", 0, -1); !backends.IsNotFound(err) {
		t.Fatalf("get missing: got %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, "missing/key"); !backends.IsNotFound(err) {
		t.Fatalf("stat missing: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "missing/key"); err != nil {
		t.Fatalf("delete missing: %v, want nil", err)
	}
}

func testDelete(t *testing.T, s backends.Store) {
	ctx := context.Background()
	put(t, s, "d/x", []byte("x"))
	if err := s.Delete(ctx, "d/x"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Stat(ctx, "d/x"); !backends.IsNotFound(err) {
		t.Fatalf("stat after delete: %v, want ErrNotFound", err)
	}
	put(t, s, "d/x", []byte("again")) // a deleted key can be created again
}

func testRange(t *testing.T, s backends.Store) {
	want := randBytes(t, 100_000)
	put(t, s, "r/obj", want)
	cases := []struct{ off, n int64 }{{0, 10}, {99_990, 10}, {500, -1}, {12345, 54321}, {99_999, 1},
		{0, -1}, {99_990, 100}, {500, 0}, {100_000, -1}}
	for _, c := range cases {
		end := int64(len(want))
		if c.n >= 0 {
			end = c.off + c.n
		}
		end = min(end, int64(len(want)))
		if got := get(t, s, "r/obj", c.off, c.n); !bytes.Equal(got, want[c.off:end]) {
			t.Fatalf("range off=%d n=%d: got %d bytes, want %d", c.off, c.n, len(got), end-c.off)
		}
	}
}

// modTimeSlack is how far a listed ModTime may be from the test's clock: the
// objects were just written, but a server's clock may drift from ours.
const modTimeSlack = 10 * time.Minute

// listAll lists prefix after after and returns the keys. Every object it
// lists was put by the test just now, so each must carry a ModTime near the
// test's clock.
func listAll(t *testing.T, s backends.Store, prefix, after string) []string {
	t.Helper()
	var infos []backends.ObjectInfo
	err := s.List(context.Background(), prefix, after, func(oi backends.ObjectInfo) error {
		infos = append(infos, oi)
		return nil
	})
	if err != nil {
		t.Fatalf("list %q after %q: %v", prefix, after, err)
	}
	now := time.Now()
	keys := make([]string, 0, len(infos))
	for _, oi := range infos {
		if oi.ModTime.IsZero() {
			t.Fatalf("list %q after %q: %s has no ModTime", prefix, after, oi.Key)
		}
		if d := now.Sub(oi.ModTime); d > modTimeSlack || d < -modTimeSlack {
			t.Fatalf("list %q after %q: %s has ModTime %v, %v from now (%v)", prefix, after, oi.Key, oi.ModTime, d, now)
		}
		keys = append(keys, oi.Key)
	}
	return keys
}

func testListSeek(t *testing.T, s backends.Store) {
	// '-' and '.' sort before '/': a store that walks directories must still
	// return byte order. (No key is also a "directory" of another: the file
	// store cannot hold both, and walship never writes such pairs.)
	keys := []string{"l/a-b", "l/a.c", "l/a/b", "l/b/c/d", "l/c", "m/x", "k"}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	want := []string{"l/a-b", "l/a.c", "l/a/b", "l/b/c/d", "l/c"}
	if got := listAll(t, s, "l/", ""); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list l/: got %v, want %v", got, want)
	}
	if got := listAll(t, s, "l/", "l/a.c"); fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Fatalf("list l/ after l/a.c: got %v, want %v", got, want[2:])
	}
	if got := listAll(t, s, "l/a", "l/a-b"); fmt.Sprint(got) != fmt.Sprint(want[1:3]) {
		t.Fatalf("list l/a after l/a-b: got %v, want %v", got, want[1:3])
	}
	if got := listAll(t, s, "nothing/", ""); len(got) != 0 {
		t.Fatalf("list of empty prefix: %v", got)
	}
	stop := errors.New("stop")
	n := 0
	err := s.List(context.Background(), "l/", "", func(backends.ObjectInfo) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("list did not stop on fn error: n=%d err=%v", n, err)
	}
}

func testListPaging(t *testing.T, s backends.Store, n int) {
	ctx := context.Background()
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("p/%08d", i)
	}
	// Write concurrently in a few streams to keep real servers quick.
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func(w int) {
			for i := w; i < n; i += 8 {
				if err := s.Put(ctx, want[i], bytes.NewReader(nil), 0); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	got := listAll(t, s, "p/", "")
	if len(got) != n || got[0] != want[0] || got[n-1] != want[n-1] {
		t.Fatalf("list %d keys: got %d", n, len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("list order: got[%d]=%s want %s", i, got[i], want[i])
		}
	}
	mid := n * 3 / 5
	got = listAll(t, s, "p/", want[mid])
	if len(got) != n-mid-1 || got[0] != want[mid+1] {
		t.Fatalf("seek after %s: got %d keys starting %v", want[mid], len(got), got[:min(1, len(got))])
	}
}

// blockingReader yields some bytes, then cancels the upload's context and
// fails, as a client hanging up mid-upload would.
type blockingReader struct {
	r      io.ReadSeeker
	cancel context.CancelFunc
	n      int
	after  int
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.n >= b.after {
		b.cancel()
		return 0, context.Canceled
	}
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

func (b *blockingReader) Seek(off int64, whence int) (int64, error) {
	b.n = 0
	return b.r.Seek(off, whence)
}

func testCancel(t *testing.T, s backends.Store, opt Options) {
	data := randBytes(t, opt.CancelSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	br := &blockingReader{r: bytes.NewReader(data), cancel: cancel, after: opt.CancelAfter}
	err := s.Put(ctx, "c/partial", br, int64(len(data)))
	if err == nil {
		t.Fatal("put with a cancelled context succeeded")
	}
	if _, err := s.Stat(context.Background(), "c/partial"); !backends.IsNotFound(err) {
		t.Fatalf("after cancelled put: stat = %v, want ErrNotFound (no partial object)", err)
	}
	if got := listAll(t, s, "c/", ""); len(got) != 0 {
		t.Fatalf("after cancelled put: list shows %v", got)
	}
	short := []byte("short")
	if err := s.Put(context.Background(), "c/short", bytes.NewReader(short), 10); err == nil {
		t.Fatal("put of a body shorter than its size succeeded")
	}
	if _, err := s.Stat(context.Background(), "c/short"); !backends.IsNotFound(err) {
		t.Fatalf("after short put: stat = %v, want ErrNotFound", err)
	}
}

func testBadKey(t *testing.T, s backends.Store) {
	for _, k := range []string{"", "../x", "/abs", "a//b", "a/../b", "a\\b", "a b"} {
		if err := s.Put(context.Background(), k, bytes.NewReader(nil), 0); err == nil {
			t.Fatalf("put of hostile key %q succeeded", k)
		}
	}
}
