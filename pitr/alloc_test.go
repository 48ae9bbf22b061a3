package pitr

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// A restore of a history of many small segments allocates per segment
// about what the segment needs: read buffers sized to each object, not
// 256 KiB apiece (with those, 100,000 one-second segments took 25 GB of
// buffers and twice the time, the garbage collector working through them),
// nor 4 KiB at least (12.5 KB per segment; the collections cost a fifth of
// the restore).
func TestRestoreSmallSegmentsAllocatesLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("restores 2,000 segments")
	}
	st := mem.New()
	putTimeline(t, st, segments.Timeline{ID: 1, StartIndex: 1, Reason: "test", Time: timeOf(baseTime)})
	const n = 2000
	for i := range uint64(n) {
		codec := segments.CodecZstd
		if i%2 == 1 {
			codec = segments.CodecNone
		}
		putSegment(t, st, 1, wal.FormatBinary, codec, []segments.Entry{{Index: i + 1, Time: baseTime + int64(i), Data: fmt.Appendf(nil, "entry %d: a small record of a one-second segment", i+1)}})
	}
	ctx := context.Background()
	// Warm the decoder caches, then measure a second restore.
	if _, _, err := Restore(ctx, st, Target{Latest: true}, filepath.Join(t.TempDir(), "warm"), Options{}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, res, err := Restore(ctx, st, Target{Latest: true}, filepath.Join(t.TempDir(), "out"), Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if res.To != n {
		t.Fatalf("restored up to %d, want %d", res.To, n)
	}
	per := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per segment", per)
	if per > 10<<10 { // 5.3 KB here; 12.5 KB with 4 KiB read buffers
		t.Fatalf("a restore allocates %d bytes per one-entry segment, want at most 10 KiB", per)
	}
}
