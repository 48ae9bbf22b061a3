package agent

import (
	"context"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"
	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// In the steady state a shipped segment costs one store call: its Put. The
// service checks the bytes (Store's contract), so nothing is read back.
// Encryption adds no request.
func TestSteadyStateOneCallPerSegment(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[encrypted], func(t *testing.T) {
			oneCallPerSegment(t, encrypted)
		})
	}
}

func oneCallPerSegment(t *testing.T, encrypted bool) {
	src := newSource(t, tidwal.Binary)
	st := metered.New(mem.New())
	var ids []*crypt.Identity
	r := startWith(t, src.dir, func(o *Options) {
		o.StateDir = t.TempDir()
		o.SealInterval = 50 * time.Millisecond
		if encrypted {
			id, rcpt := testIdentity(t)
			ids = append(ids, id)
			o.Stores[0].Recipients = []*crypt.Recipient{rcpt}
		}
	}, st)
	src.write(5, "a")
	r.waitShipped(t, 1, src.last())
	segs := func() int {
		n := 0
		if err := st.List(context.Background(), segments.SegmentsPrefix, "", func(backends.ObjectInfo) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, n0 := st.Counts(), segs()
	for range 20 {
		src.write(3, "b")
		time.Sleep(70 * time.Millisecond) // longer than the seal interval: a segment each
	}
	r.waitShipped(t, 1, src.last())
	got := st.Counts().Sub(before)
	shipped := segs() - n0
	got.List.Calls-- // segs() itself
	if shipped < 10 {
		t.Fatalf("only %d segments shipped for 20 seal intervals", shipped)
	}
	if got.Put.Calls != int64(shipped) || got.Calls() != int64(shipped) {
		t.Fatalf("%d segments shipped with %s; want exactly one put each and nothing else", shipped, got)
	}
	r.halt(t)
	restoreWith(t, st, pitr.Target{Latest: true}, ids, src.want, 1, src.last())
}
