package agent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	"github.com/walship/walship/segments"
)

// The agent prunes on its schedule: segments wholly before the newest base
// go, the latest stays restorable, and a target before the base fails
// clearly instead of restoring something else.
func TestScheduledPrune(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	st := mem.New()
	c := &checkpointer{t: t, root: t.TempDir()}
	src.write(600, "a")
	r := startWith(t, src.dir, func(o *Options) {
		o.Snapshot = SnapshotOptions{Command: []string{"cat", filepath.Join(c.root, "latest.json")}}
		o.Retention = RetentionOptions{Policy: retention.Policy{Snapshots: 1, Window: time.Millisecond}, Interval: 50 * time.Millisecond}
	}, st)
	r.waitShipped(t, 1, 600)
	c.checkpoint(src, 500)
	if _, err := r.a.TakeSnapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a prune", func() bool {
		first := ""
		st.List(context.Background(), segments.SegmentsPrefix, "", func(oi backends.ObjectInfo) error { first = oi.Key; return errStop })
		n, err := segments.ParseSegmentKey(first)
		return err == nil && n.First > 1
	})
	src.write(50, "b")
	r.waitShipped(t, 1, 650)
	r.halt(t)
	if base := restoreWithBase(t, st, c, src, pitr.Target{Latest: true}, 650); base != 500 {
		t.Fatalf("latest restored from base %d, want 500", base)
	}
	if _, _, err := pitr.Restore(context.Background(), st, pitr.Target{Index: 10}, t.TempDir(), pitr.Options{}); err == nil {
		t.Fatal("a target pruned away restored anyway")
	}
}
