package multi_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/multi"
)

func TestUnion(t *testing.T) {
	ctx := context.Background()
	a, b := mem.New(), mem.New()
	put := func(st backends.Store, k, v string) {
		if err := st.Put(ctx, k, bytes.NewReader([]byte(v)), int64(len(v))); err != nil {
			t.Fatal(err)
		}
	}
	put(a, "k/1", "a1")
	put(a, "k/2", "a2")
	put(b, "k/2", "b2")
	put(b, "k/3", "b3")
	u := multi.New(multi.Member{Name: "a", Store: a}, multi.Member{Name: "b", Store: b})
	var keys []string
	u.List(ctx, "k/", "", func(oi backends.ObjectInfo) error { keys = append(keys, oi.Key); return nil })
	if len(keys) != 3 || keys[0] != "k/1" || keys[2] != "k/3" {
		t.Fatalf("union listing %v", keys)
	}
	read := func(k string) string {
		rc, err := u.Get(ctx, k, 0, -1)
		if err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
		defer rc.Close()
		v, _ := io.ReadAll(rc)
		return string(v)
	}
	if read("k/2") != "a2" || read("k/3") != "b3" {
		t.Fatal("reads do not prefer the first member, or do not fall back")
	}
	if _, err := u.Get(ctx, "k/9", 0, -1); !backends.IsNotFound(err) {
		t.Fatalf("missing everywhere: %v, want not-found", err)
	}
	if err := u.Put(ctx, "k/4", bytes.NewReader(nil), 0); err == nil || !backends.IsPermanent(err) {
		t.Fatalf("put through a union: %v, want a permanent refusal", err)
	}
	if got := multi.ReplicasOf(a); len(got) != 1 || got[0].Store != a {
		t.Fatal("a plain store is its own only replica")
	}
	if got := multi.ReplicasOf(u); len(got) != 2 || got[0].Name != "a" {
		t.Fatal("replicas of a union")
	}
}
