package retention_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
)

// progressRecorder is a Progress that counts every call.
type progressRecorder struct {
	totals, early, adds   atomic.Int64
	totalObjs, totalBytes atomic.Int64
	objs, bytes           atomic.Int64
}

func (r *progressRecorder) Total(objects, bytes int64) {
	r.totals.Add(1)
	r.totalObjs.Store(objects)
	r.totalBytes.Store(bytes)
}

func (r *progressRecorder) Add(objects, bytes int64) {
	if r.totals.Load() == 0 {
		r.early.Add(1)
	}
	r.adds.Add(1)
	r.objs.Add(objects)
	r.bytes.Add(bytes)
}

// TestExecuteProgress: every deletion is reported, and the totals said at
// the start are the plan's and what Stats says at the end.
func TestExecuteProgress(t *testing.T) {
	st := newMem()
	f := newForks(t, st, 2*rt.ChunkSize)
	pl := plan(t, st, retention.Policy{Snapshots: 1, Window: time.Hour}, f.w.Now())
	var planBytes int64
	for d := range pl.All() {
		planBytes += d.Size
	}
	if len(pl.Chunks) == 0 || pl.Segments.Len() == 0 || len(pl.Manifests) == 0 || planBytes == 0 {
		t.Fatalf("fixture: the plan deletes %d manifests, %d chunks, %d segments", len(pl.Manifests), len(pl.Chunks), pl.Segments.Len())
	}
	rec := &progressRecorder{}
	s, err := retention.ExecuteWith(context.Background(), st, pl, retention.ExecuteOptions{Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	total, totalBytes := rec.totalObjs.Load(), rec.totalBytes.Load()
	if rec.totals.Load() != 1 || rec.early.Load() != 0 || total != int64(pl.Count()) || totalBytes != planBytes {
		t.Fatalf("Total called %d times (%d Adds before): %d objects, %d bytes; the plan deletes %d, %d",
			rec.totals.Load(), rec.early.Load(), total, totalBytes, pl.Count(), planBytes)
	}
	objs, bytes := rec.objs.Load(), rec.bytes.Load()
	if objs != int64(s.Deleted()) || bytes != s.Bytes || rec.adds.Load() != int64(s.Deleted()) || objs != total || bytes != totalBytes {
		t.Fatalf("Adds sum to %d objects, %d bytes in %d calls; stats %+v", objs, bytes, rec.adds.Load(), s)
	}
}
