package file_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
)

// List walks the tree directory by directory in key order; on a tree whose
// names mix '-', '.', '_' and digits around '/' (where directory order and
// key order differ), every prefix and after gives exactly the sorted keys
// that match, and an error of fn comes back as fn returned it.
func TestListOrderPrefixAfter(t *testing.T) {
	st, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 9))
	parts := []string{"a", "a-b", "a.c", "a_d", "ab", "b", "0", "00", "1-0", "1"}
	var keys []string
	seen := map[string]bool{}
	for len(keys) < 300 {
		n := 1 + r.IntN(4)
		var segs []string
		for range n {
			segs = append(segs, parts[r.IntN(len(parts))])
		}
		key := strings.Join(segs, "/")
		clash := false // a key that is also a directory of another cannot exist on a file system
		for k := range seen {
			if strings.HasPrefix(k, key+"/") || strings.HasPrefix(key, k+"/") {
				clash = true
				break
			}
		}
		if clash || seen[key] {
			continue
		}
		seen[key] = true
		if err := st.Put(ctx, key, bytes.NewReader([]byte(key)), int64(len(key))); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	prefixes := []string{"", "a", "a/", "a-", "a/a", "a/a-b/", "1", "1-0/", "0/0", "zz"}
	for _, prefix := range prefixes {
		afters := []string{"", "a", "a/", "a-b", "a/a-b/a", "a.c/", "b", "0/1", keys[r.IntN(len(keys))], keys[r.IntN(len(keys))], "~"}
		for _, after := range afters {
			var want []string
			for _, k := range keys {
				if strings.HasPrefix(k, prefix) && k > after {
					want = append(want, k)
				}
			}
			var got []string
			if err := st.List(ctx, prefix, after, func(oi backends.ObjectInfo) error {
				got = append(got, oi.Key)
				if oi.Size != int64(len(oi.Key)) {
					t.Fatalf("%s: size %d", oi.Key, oi.Size)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("list %q after %q:\n got %q\nwant %q", prefix, after, got, want)
			}
		}
	}
	stop := errors.New("enough")
	n := 0
	err = st.List(ctx, "", "", func(backends.ObjectInfo) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Fatalf("fn's error after %d keys: %v, want %v itself after 10", n, err, stop)
	}
}
