package multi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/deadline"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/multi"
)

// frozen answers nothing until its context ends, and counts the calls.
type frozen struct {
	backends.Store
	calls atomic.Int64
}

func (f *frozen) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	f.calls.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}
func (f *frozen) List(ctx context.Context, p, a string, fn func(backends.ObjectInfo) error) error {
	f.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}
func (f *frozen) String() string { return "frozen://" }

// A member that hangs costs its deadline once: later reads go to the
// healthy member first, and a listing leaves it out.
func TestHungMemberIsDemoted(t *testing.T) {
	healthy := mem.New()
	ctx := context.Background()
	for i := range 20 {
		b := []byte(fmt.Sprintf("object %d", i))
		if err := healthy.Put(ctx, fmt.Sprintf("segments/%02d", i), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	fz := &frozen{Store: mem.New()}
	hung := deadline.New(fz, deadline.Options{Op: 100 * time.Millisecond, Tick: 5 * time.Millisecond})
	u := multi.New(multi.Member{Name: "hung", Store: hung}, multi.Member{Name: "healthy", Store: healthy})

	var keys []string
	if err := u.List(ctx, "segments/", "", func(oi backends.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		t.Fatalf("list with one member hung: %v", err)
	}
	if len(keys) != 20 {
		t.Fatalf("listed %d keys, want 20", len(keys))
	}
	for i := range 20 {
		key := fmt.Sprintf("segments/%02d", i)
		var got []byte
		var err error
		for _, m := range u.Replicas() { // as pitr reads: each copy in order
			var rc io.ReadCloser
			if rc, err = m.Store.Get(ctx, key, 0, -1); err == nil {
				got, err = io.ReadAll(rc)
				rc.Close()
				break
			}
		}
		if err != nil || string(got) != fmt.Sprintf("object %d", i) {
			t.Fatalf("read %s: %q %v", key, got, err)
		}
	}
	if n := fz.calls.Load(); n > 1 {
		t.Fatalf("the hung member was asked %d times: it should be tried after the healthy one once it failed", n)
	}
	if _, err := u.Get(ctx, "segments/03", 0, -1); err != nil {
		t.Fatalf("union get: %v", err)
	}
}
