package agent

import (
	"testing"

	tidwal "github.com/tidwall/wal"
)

// A base frozen after a TruncateBack the sealer has not handled yet must
// not be labelled with the old timeline: frozenIndex refuses it (0), and
// accepts a source that agrees with the sealed history.
func TestFrozenIndexChecksTheTimeline(t *testing.T) {
	src, st, state := shipStop(t, tidwal.Binary, 100)

	open := func() *Agent {
		t.Helper()
		a, err := New(Options{WALDir: src.dir, StateDir: state, Stores: []Store{{Store: st}}, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if a.crc, err = openCRCLog(state, a.st.Sealed.Index); err != nil {
			t.Fatal(err)
		}
		return a
	}
	src.write(10, "b") // 101..110, not sealed yet: fine
	a := open()
	if got := a.frozenIndex(1); got != 110 {
		t.Fatalf("an unchanged source: frozen index %d, want 110", got)
	}
	if got := a.frozenIndex(2); got != 0 {
		t.Fatalf("a timeline that is not current: frozen index %d, want 0", got)
	}
	a.Close()

	src.truncateBack(t, 80)
	src.write(30, "c") // new 81..110
	a = open()
	defer a.Close()
	if got := a.frozenIndex(1); got != 0 {
		t.Fatalf("a rewritten source labelled with the old timeline: frozen index %d, want 0 (deferred)", got)
	}
}
