package fanout_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/fanout"
	"github.com/walship/walship/backends/mem"
)

func TestFanout(t *testing.T) {
	ctx := context.Background()
	a, b := mem.New(), mem.New()
	if err := b.Put(ctx, "chunks/x", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	f := fanout.New(a, b)
	var listed []string
	f.List(ctx, "chunks/", "", func(oi backends.ObjectInfo) error { listed = append(listed, oi.Key); return nil })
	if len(listed) != 0 {
		t.Fatalf("intersection lists %v, want nothing (a lacks chunks/x)", listed)
	}
	for _, k := range []string{"chunks/x", "chunks/y"} {
		if err := f.Put(ctx, k, bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	for _, st := range []backends.Store{a, b} {
		for _, k := range []string{"chunks/x", "chunks/y"} {
			if _, err := st.Stat(ctx, k); err != nil {
				t.Fatalf("%s lacks %s: %v", st, k, err)
			}
		}
	}
	listed = nil
	f.List(ctx, "chunks/", "", func(oi backends.ObjectInfo) error { listed = append(listed, oi.Key); return nil })
	if len(listed) != 2 {
		t.Fatalf("listed %v", listed)
	}
	if err := f.Delete(ctx, "chunks/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(ctx, "chunks/x"); !backends.IsNotFound(err) {
		t.Fatalf("stat after delete: %v", err)
	}
}
