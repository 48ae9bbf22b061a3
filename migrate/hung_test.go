package migrate

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/segments"
)

// hungPuts accepts every call but never answers a Put of a segment: a
// store that hangs (connections accepted, no reply), not one that refuses.
type hungPuts struct{ *mem.Store }

func (h hungPuts) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if strings.HasPrefix(key, segments.SegmentsPrefix) {
		<-ctx.Done()
		return ctx.Err()
	}
	return h.Store.Put(ctx, key, r, size)
}

// TestMigrateHungStore: a store that hangs on the rewrites fails the run
// after the call timeout, naming what it was writing; no segment is
// deleted, and every target still restores exactly (the bases, whose
// writes the store did answer, are migrated: restores need the identity).
func TestMigrateHungStore(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	before := migratetest.Objects(t, st)
	id, r := identity(t)
	start := time.Now()
	res, err := Run(context.Background(), hungPuts{st}, Options{Recipients: []*crypt.Recipient{r}, Scratch: t.TempDir(), CallTimeout: 200 * time.Millisecond})
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("the run took %v against a hung store", took)
	}
	failed := err != nil || (res != nil && len(res.Problems) > 0)
	if !failed {
		t.Fatalf("migrate against a hung store: no error, result %+v", res)
	}
	if msg := problemsText(err, res); !strings.Contains(msg, segments.SegmentsPrefix) || !strings.Contains(msg, "deadline") {
		t.Fatalf("the failure names neither the segment nor the timeout: %s", msg)
	}
	after := map[string]bool{}
	for _, o := range migratetest.Objects(t, st) {
		after[o.Key] = true
	}
	for _, o := range before {
		if !after[o.Key] && strings.HasPrefix(o.Key, segments.SegmentsPrefix) {
			t.Fatalf("segment %s was deleted by a run whose rewrites never stored", o.Key)
		}
	}
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)
}

func problemsText(err error, res *Result) string {
	var b strings.Builder
	if err != nil {
		b.WriteString(err.Error())
	}
	if res != nil {
		for _, p := range res.Problems {
			b.WriteString("\n" + p.Key + ": " + p.Problem)
		}
	}
	return b.String()
}
