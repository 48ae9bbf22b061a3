package agent

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// Restores to random indexes and random times, through the agent, compared
// with the source. Entries carry their own time (be64 at offset 0), so the
// test knows exactly which entries a time target must yield.
func TestRandomTargets(t *testing.T) {
	src := newSource(t, tidwal.JSON)
	st, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	times := map[uint64]time.Time{}
	for i := uint64(1); i <= 1500; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		d := binary.BigEndian.AppendUint64(nil, uint64(ts.UnixNano()))
		d = append(d, src.entry(i, "t")...)
		if err := src.log.Write(i, d); err != nil {
			t.Fatal(err)
		}
		src.want[i], times[i] = d, ts
	}
	ts, _ := wal.ParseTimeSource("be64:0")
	a, err := New(Options{WALDir: src.dir, Stores: []Store{{Store: st}}, SealSize: 4 << 10, SealInterval: 20 * time.Millisecond,
		Codec: segments.CodecZstd, Logger: quietLogger(), Tail: wal.Options{Time: ts, Poll: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	r.waitShipped(t, 1, 1500)
	r.halt(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for k := 0; k < 8; k++ {
		idx := 1 + rng.Uint64N(1500)
		restoreAndCompare(t, st, pitr.Target{Index: idx}, src.want, 1, idx)
		at := 1 + rng.Uint64N(1500)
		// Half a second after entry at's time: entry at is in, at+1 is not.
		restoreAndCompare(t, st, pitr.Target{Time: times[at].Add(500 * time.Millisecond)}, src.want, 1, at)
	}
}
