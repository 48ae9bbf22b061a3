package migrate

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/segments"
)

// noSwap is a store without compare-and-swap.
type noSwap struct{ backends.Store }

// TestMigrateWithoutSwap: a store that cannot compare-and-swap gets its
// segments migrated and keeps its records as they are, and says so.
func TestMigrateWithoutSwap(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	id, r := identity(t)
	res := run(t, noSwap{st}, Options{Recipients: []*crypt.Recipient{r}})
	if res.Segments.Rewrite == 0 || res.Timelines.Left != 3 || res.Points.Left != 3 || res.Timelines.Rewrite != 0 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "no compare-and-swap: 3 timeline record(s) and 3 point(s) were left") {
		t.Fatalf("notes %q", res.Notes)
	}
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)
}

// vanishing answers not found for one key it still lists: a segment
// deleted (by prune or compaction) between migrate's listing and its read.
type vanishing struct {
	*mem.Store
	key string
}

func (v vanishing) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if key == v.key {
		return nil, fmt.Errorf("get %s: %w", key, backends.ErrNotFound)
	}
	return v.Store.Get(ctx, key, off, n)
}

// TestMigrateSegmentGone: a segment gone since the listing is no problem
// and no failure; the others are migrated.
func TestMigrateSegmentGone(t *testing.T) {
	st := mem.New()
	migratetest.Build(t, st)
	objs := migratetest.Objects(t, st)
	var gone string
	nseg := 0
	for _, o := range objs {
		if strings.HasPrefix(o.Key, segments.SegmentsPrefix) {
			gone = o.Key
			nseg++
		}
	}
	_, r := identity(t)
	res := run(t, vanishing{st, gone}, Options{Recipients: []*crypt.Recipient{r}})
	if res.Segments.Objects != nseg-1 || res.Segments.Rewrite != nseg-1 {
		t.Fatalf("result %+v, want %d segments migrated", res.Segments, nseg-1)
	}
}
