package migrate

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// TestHostileGenerationKeys: keys with a generation that is not walship's
// (zero, a leading zero, letters, past 2^32-1) holding a valid segment's
// bytes are no segment to list or restore, damage to verify, and migrate
// never reads, rewrites or deletes them.
func TestHostileGenerationKeys(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	w := migratetest.Build(t, st)
	var seg migratetest.Object
	for _, o := range migratetest.Objects(t, st) {
		if strings.HasPrefix(o.Key, segments.SegmentsPrefix) {
			seg = o
			break
		}
	}
	base := strings.TrimSuffix(seg.Key, ".wseg")
	var hostile []string
	for _, g := range []string{".g0", ".g01", ".gx", ".g4294967296", ".g-1", ".g1.g2"} {
		k := base + g + ".wseg"
		hostile = append(hostile, k)
		if err := st.Put(ctx, k, bytes.NewReader(seg.Data), int64(len(seg.Data))); err != nil {
			t.Fatal(err)
		}
	}
	list, err := pitr.ListSegments(ctx, st, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if slices.Contains(hostile, s.Key()) {
			t.Fatalf("hostile key %s listed as a segment", s.Key())
		}
	}
	rep, err := pitr.Verify(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range hostile {
		if !slices.ContainsFunc(rep.Damaged, func(d pitr.Damage) bool { return d.Key == k }) {
			t.Fatalf("verify did not report %s: %+v", k, rep.Damaged)
		}
	}
	id, r := identity(t)
	run(t, st, Options{Recipients: []*crypt.Recipient{r}})
	for _, k := range hostile {
		rc, err := st.Get(ctx, k, 0, -1)
		if err != nil {
			t.Fatalf("migrate touched %s: %v", k, err)
		}
		rc.Close()
	}
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)
}
