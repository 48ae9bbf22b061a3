package faultcheck

import "testing"

func TestGapsRecorded(t *testing.T) {
	rec := []storeGap{{Timeline: 2, From: 172, To: 200}, {Timeline: 2, From: 201, To: 238}, {Timeline: 3, From: 5, To: 9}}
	for _, c := range []struct {
		out  string
		want bool
	}{
		{"store x\n3 objects, 1 KiB: ...\nGAP timeline 2: no intact segment holds entries 172..238\nlost before shipping (recorded by the agent) timeline 2: entries 1..171\n", true},
		{"GAP timeline 3: no intact segment holds entries 6..9\n", true},
		{"GAP timeline 2: no intact segment holds entries 172..239\n", false},                          // past the recorded gaps
		{"GAP timeline 3: no intact segment holds entries 172..200\n", false},                          // another timeline
		{"GAP timeline 2: no intact segment holds entries 172..200\nDAMAGED segments/x: bad\n", false}, // damage besides
		{"walship verify: damage found in 1 of 1 stores\n", false},                                     // no gap named
		{"GAP timeline 2: no intact segment holds entries 172..200\n", true},
	} {
		if got := gapsRecorded(c.out, rec); got != c.want {
			t.Errorf("gapsRecorded(%q) = %v, want %v", c.out, got, c.want)
		}
	}
	if gapsRecorded("GAP timeline 2: no intact segment holds entries 172..200\n", nil) {
		t.Error("a gap the agent never recorded was accepted")
	}
}
