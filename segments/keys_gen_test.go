package segments

import (
	"strings"
	"testing"
)

func TestSegmentKeyGenerations(t *testing.T) {
	base := SegmentName{Timeline: 3, First: 10, Last: 20, MaxTime: 1_700_000_000_000_000_000}
	for _, gen := range []uint32{1, 2, 9, 10, 4294967295} {
		n := base
		n.Gen = gen
		got, err := ParseSegmentKey(n.Key())
		if err != nil || got != n {
			t.Fatalf("gen %d: %s parses to %+v, %v", gen, n.Key(), got, err)
		}
		if got.Family() != base {
			t.Fatalf("gen %d: family %+v, want %+v", gen, got.Family(), base)
		}
	}
	if k := (SegmentName{Timeline: 1, First: 1, Last: 1, Gen: 7}).Key(); !strings.HasSuffix(k, "-00000000000000000000.g7.wseg") {
		t.Fatalf("key %s", k)
	}
	// Every generation of a segment sorts beside it, before the next first index.
	next := SegmentName{Timeline: 3, First: 11, Last: 11}.Key()
	for _, gen := range []uint32{0, 1, 99} {
		n := base
		n.Gen = gen
		if k := n.Key(); k >= next || k <= SeekKey(3, 10) {
			t.Fatalf("gen %d key %s does not sort between %s and %s", gen, k, SeekKey(3, 10), next)
		}
	}
	k := strings.TrimSuffix(base.Key(), ".wseg")
	hostile := []string{
		k + ".g0.wseg", k + ".g01.wseg", k + ".g.wseg", k + ".g-1.wseg", k + ".g+1.wseg", k + ".g1a.wseg",
		k + ".gA.wseg", k + ".G1.wseg", k + ".g4294967296.wseg", k + ".g99999999999.wseg", k + ".g1.g2.wseg",
		k + "g1.wseg", k + ".g 1.wseg", k + ".g1 .wseg", k + ".g1/.wseg", k + ".x1.wseg", k + ".g1.wseg.wseg",
		k + ".g\u00b9.wseg", k + ".g１.wseg", k + ".", k + ".g1",
	}
	for _, h := range hostile {
		if n, err := ParseSegmentKey(h); err == nil {
			t.Errorf("hostile key %q parsed as %+v", h, n)
		}
	}
}

// FuzzSegmentKeyGen: a name with any generation prints a key that parses
// back to it, and what the parser accepts under a generation prints back
// to the very key.
func FuzzSegmentKeyGen(f *testing.F) {
	f.Add(uint32(1), uint64(1), uint64(2), int64(5), uint32(1), ".g1")
	f.Add(uint32(1<<32-1), uint64(1<<64-1), uint64(1<<64-1), int64(-1), uint32(1<<32-1), ".g4294967296")
	f.Add(uint32(7), uint64(3), uint64(3), int64(0), uint32(0), ".g01")
	f.Fuzz(func(t *testing.T, tl uint32, first, last uint64, maxTime int64, gen uint32, tail string) {
		n := SegmentName{Timeline: tl, First: first, Last: last, MaxTime: max(maxTime, 0), Gen: gen}
		got, err := ParseSegmentKey(n.Key())
		if valid := tl != 0 && first != 0 && last >= first; valid != (err == nil) || (valid && got != n) {
			t.Fatalf("%+v: parsed %+v, %v", n, got, err)
		}
		key := strings.TrimSuffix(n.Family().Key(), ".wseg") + tail + ".wseg"
		if p, err := ParseSegmentKey(key); err == nil && (p.Key() != key || p.Family() != n.Family()) {
			t.Fatalf("%q parses to %+v, which prints %q", key, p, p.Key())
		}
	})
}
