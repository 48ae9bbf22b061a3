package metered_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/backends/storetest"
)

// The decorator keeps the whole Store contract of what it wraps.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) backends.Store { return metered.New(mem.New()) }, storetest.Options{Large: true})
}

func put(t *testing.T, s backends.Store, key, body string) error {
	t.Helper()
	return s.Put(context.Background(), key, strings.NewReader(body), int64(len(body)))
}

func TestCounts(t *testing.T) {
	ctx := context.Background()
	s := metered.New(mem.New())
	if c := s.Counts(); c != (metered.Counts{}) {
		t.Fatalf("new store counts %+v", c)
	}
	if err := put(t, s, "a/1", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, "a/2", "world!"); err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, "a/1", "again"); !backends.IsExists(err) { // refused: counted, no bytes
		t.Fatalf("overwrite: %v", err)
	}
	if err := s.Put(ctx, "a/3", strings.NewReader("abc"), 10); err == nil { // short body
		t.Fatal("short put succeeded")
	}
	before := s.Counts()

	rc, err := s.Get(ctx, "a/2", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "world!" {
		t.Fatalf("get: %q", b)
	}
	rc.Close()
	rc, err = s.Get(ctx, "a/1", 1, 3) // ranged, read partly then closed
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	if _, err := io.ReadFull(rc, one[:]); err != nil || one[0] != 'e' {
		t.Fatalf("ranged read %q %v", one, err)
	}
	rc.Close()
	if _, err := s.Get(ctx, "nope", 0, -1); !backends.IsNotFound(err) {
		t.Fatalf("get missing: %v", err)
	}
	if oi, err := s.Stat(ctx, "a/1"); err != nil || oi.Size != 5 {
		t.Fatalf("stat %+v %v", oi, err)
	}
	if _, err := s.Stat(ctx, "nope"); !backends.IsNotFound(err) {
		t.Fatalf("stat missing: %v", err)
	}
	var keys []string
	if err := s.List(ctx, "a/", "", func(oi backends.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[a/1 a/2]" {
		t.Fatalf("list %v", keys)
	}
	stop := errors.New("stop")
	if err := s.List(ctx, "a/", "", func(backends.ObjectInfo) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("list stop: %v", err)
	}
	if err := s.Delete(ctx, "a/2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a/2"); err != nil { // missing: not an error
		t.Fatal(err)
	}

	want := metered.Counts{
		Put:         metered.Op{Calls: 4, Errors: 2},
		Get:         metered.Op{Calls: 3, Errors: 1},
		Stat:        metered.Op{Calls: 2, Errors: 1},
		List:        metered.Op{Calls: 2, Errors: 1},
		Delete:      metered.Op{Calls: 2},
		ListObjects: 3,
		BytesUp:     11, // "hello" + "world!"
		BytesDown:   7,  // "world!" + "e"
	}
	got := s.Counts()
	if got != want {
		t.Fatalf("counts\n got %+v\nwant %+v", got, want)
	}
	if got.Calls() != 13 || got.Errors() != 5 {
		t.Fatalf("totals: %d calls, %d errors", got.Calls(), got.Errors())
	}
	d := got.Sub(before)
	if d.Put != (metered.Op{}) || d.BytesUp != 0 || d.Get.Calls != 3 || d.BytesDown != 7 || d.Delete.Calls != 2 {
		t.Fatalf("sub: %+v", d)
	}
	if str := got.String(); !strings.Contains(str, "put 4 (2 err)") || !strings.Contains(str, "list 2 (1 err) (3 objects)") ||
		!strings.Contains(str, "up 11 B, down 7 B") {
		t.Fatalf("String() = %q", str)
	}
	if s.String() != s.Unwrap().String() {
		t.Fatalf("String() = %q, wrapped store says %q", s.String(), s.Unwrap().String())
	}
}

// Many goroutines at once: every call and byte is counted exactly (run
// with -race).
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s := metered.New(mem.New())
	const workers, each = 8, 50
	body := bytes.Repeat([]byte("x"), 100)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("k/%d-%d", w, i)
				if err := s.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
					t.Error(err)
					return
				}
				rc, err := s.Get(ctx, key, 0, -1)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, rc)
				rc.Close()
				s.Stat(ctx, key)
				_ = s.Counts()
			}
			s.List(ctx, "k/", "", func(backends.ObjectInfo) error { return nil })
		}()
	}
	wg.Wait()
	c := s.Counts()
	n := int64(workers * each)
	if c.Put.Calls != n || c.Get.Calls != n || c.Stat.Calls != n || c.List.Calls != workers ||
		c.BytesUp != n*100 || c.BytesDown != n*100 || c.Errors() != 0 {
		t.Fatalf("counts after %d concurrent rounds: %+v", n, c)
	}
}

// checkStore is a store that is also a backends.Checker.
type checkStore struct {
	*mem.Store
	err error
}

func (c checkStore) Check(context.Context) error { return c.err }

func TestCheckForwarded(t *testing.T) {
	down := errors.New("store down")
	if err := metered.New(checkStore{mem.New(), down}).Check(context.Background()); !errors.Is(err, down) {
		t.Fatalf("check of a failing store: %v", err)
	}
	if err := metered.New(mem.New()).Check(context.Background()); err != nil {
		t.Fatalf("check of a store without Check: %v", err)
	}
}
