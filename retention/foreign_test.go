package retention

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// foreignKeys keeps the count and the three keys that sort first,
// whatever the order they come in.
func TestForeignKeys(t *testing.T) {
	var keys []string
	for i := range 50 {
		keys = append(keys, fmt.Sprintf("segments/junk-%02d", i))
	}
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 2))
		var f foreignKeys
		for _, i := range r.Perm(len(keys)) {
			f.add(keys[i])
		}
		if f.n != 50 || !slices.Equal(f.first, keys[:3]) {
			t.Fatalf("seed %d: %d keys, first %q; want 50 and %q", seed, f.n, f.first, keys[:3])
		}
	}
	var f foreignKeys
	f.add("b")
	f.add("a")
	if f.n != 2 || !slices.Equal(f.first, []string{"a", "b"}) {
		t.Fatalf("two keys: %+v", f)
	}
}
