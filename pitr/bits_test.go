package pitr

import "testing"

// TestBits: set and clear any position, across word edges; and keeps the
// positions in both.
func TestBits(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 200} {
		a, b := newBits(n), newBits(n)
		for i := range n {
			a.set(i, i%3 == 0)
			b.set(i, i%2 == 0)
		}
		if n > 0 {
			a.set(n-1, true)
			a.set(n-1, false)
		}
		both := a.and(b)
		for i := range n {
			wantA := i%3 == 0 && i != n-1
			if a.has(i) != wantA || b.has(i) != (i%2 == 0) || both.has(i) != (wantA && i%2 == 0) {
				t.Fatalf("n=%d, position %d: a %v, b %v, both %v", n, i, a.has(i), b.has(i), both.has(i))
			}
		}
	}
}
