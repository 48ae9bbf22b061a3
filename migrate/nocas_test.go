package migrate

import (
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
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
