package testwal

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestEntryDeterministic(t *testing.T) {
	for i := uint64(1); i < 200; i++ {
		if !bytes.Equal(Entry(7, i, 5000), Entry(7, i, 5000)) {
			t.Fatalf("entry %d differs between calls", i)
		}
	}
	same := 0
	for i := uint64(1); i < 200; i++ {
		a, b := Entry(7, i, 5000), Entry(8, i, 5000)
		if len(a) > 0 && bytes.Equal(a, b) {
			same++
		}
		if c := Entry(7, i+1, 5000); len(a) > 0 && bytes.Equal(a, c) {
			t.Errorf("entries %d and %d are equal", i, i+1)
		}
	}
	if same > 0 {
		t.Errorf("%d entries equal across seeds", same)
	}
}

func TestEntrySpread(t *testing.T) {
	for _, max := range []int{0, 1, 10, 300, 4 << 20} {
		n := 2000
		if max > 1<<20 {
			n = 300 // keep the test fast: these average ~100 KB
		}
		var empty, nearMax, text, bin, over int
		for i := uint64(1); i <= uint64(n); i++ {
			e := Entry(1, i, max)
			switch {
			case len(e) > max:
				over++
			case len(e) == 0:
				empty++
			case utf8.Valid(e):
				text++
			default:
				bin++
			}
			if max > 64 && len(e) > max-64 {
				nearMax++
			}
		}
		t.Logf("max %d: %d empty, %d near max, %d text, %d binary", max, empty, nearMax, text, bin)
		if over > 0 {
			t.Errorf("max %d: %d entries over max", max, over)
		}
		if max == 0 {
			if empty != n {
				t.Errorf("max 0: %d non-empty entries", n-empty)
			}
			continue
		}
		if empty < n/50 || text < n/4 || bin < n/4 {
			t.Errorf("max %d: %d empty, %d text, %d binary: want a mix", max, empty, text, bin)
		}
		if max > 64 && nearMax < n/200 {
			t.Errorf("max %d: only %d entries near max", max, nearMax)
		}
	}
}
