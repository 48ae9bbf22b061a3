package migrate

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	"github.com/walship/walship/segments"
)

// addGenerations gives every other segment of st a generation 1 sealed to
// rs, and every fifth a generation 2 in plain format 2 too, the older
// generations kept: what walship migrate leaves when killed between a Put
// and its deletions (and a second run with other recipients). It returns
// how many objects it added.
func addGenerations(t *testing.T, st backends.Store, rs []*crypt.Recipient) int {
	t.Helper()
	ctx := context.Background()
	added := 0
	for i, o := range migratetest.Objects(t, st) {
		n, err := segments.ParseSegmentKey(o.Key)
		if err != nil || i%2 == 1 {
			continue
		}
		var s memSink
		if _, err := segments.EncryptV1(&s, bytes.NewReader(o.Data), rs); err != nil {
			t.Fatal(err)
		}
		n.Gen = 1
		if err := st.Put(ctx, n.Key(), bytes.NewReader(s.b), int64(len(s.b))); err != nil {
			t.Fatal(err)
		}
		added++
		if i%5 != 0 {
			continue
		}
		rd, err := segments.NewReader(bytes.NewReader(o.Data))
		if err != nil {
			t.Fatal(err)
		}
		h := rd.Header()
		var p memSink
		wr, err := segments.NewWriterV2(&p, h.Timeline, h.SourceFormat, h.Codec, nil)
		if err != nil {
			t.Fatal(err)
		}
		for {
			e, err := rd.Next()
			if err != nil {
				break
			}
			if err := wr.Append(e); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := wr.Finish(); err != nil {
			t.Fatal(err)
		}
		n.Gen = 2
		if err := st.Put(ctx, n.Key(), bytes.NewReader(p.b), int64(len(p.b))); err != nil {
			t.Fatal(err)
		}
		added++
	}
	return added
}

// families maps each segment name (without generation) to its keys.
func families(t *testing.T, st backends.Store) map[segments.SegmentName][]string {
	out := map[segments.SegmentName][]string{}
	for _, o := range migratetest.Objects(t, st) {
		if n, err := segments.ParseSegmentKey(o.Key); err == nil {
			out[n.Family()] = append(out[n.Family()], o.Key)
		}
	}
	return out
}

// TestMixedGenerations: a store holding several generations of segments
// lists each, verifies clean, restores every target exactly, prunes
// generations of one segment together (as a store without them), and a
// migration finishes it to one generation each.
func TestMixedGenerations(t *testing.T) {
	ctx := context.Background()
	st, twin := mem.New(), mem.New()
	w := migratetest.Build(t, st)
	migratetest.Build(t, twin)
	id, r := identity(t)
	added := addGenerations(t, st, []*crypt.Recipient{r})
	w.Identities = []*crypt.Identity{id}

	list, err := pitr.ListSegments(ctx, st, 0)
	if err != nil {
		t.Fatal(err)
	}
	plainList, err := pitr.ListSegments(ctx, twin, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(plainList)+added {
		t.Fatalf("list: %d segments, want %d", len(list), len(plainList)+added)
	}
	for _, ids := range [][]*crypt.Identity{nil, {id}} {
		rep, err := pitr.VerifyWith(ctx, st, pitr.VerifyOptions{Identities: ids})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Damaged) > 0 || len(rep.Gaps) > 0 || len(rep.Conflicts) > 0 || rep.Segments != len(list) {
			t.Fatalf("verify (identities %d): damage %+v, gaps %+v, conflicts %+v, %d segments", len(ids), rep.Damaged, rep.Gaps, rep.Conflicts, rep.Segments)
		}
	}
	migratetest.RestoreAll(t, w, st)

	pol, now := retention.Policy{Window: 30 * time.Second}, w.Now()
	pl, err := retention.Plan(ctx, st, pol, now)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := retention.Plan(ctx, twin, pol, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retention.Execute(ctx, st, pl); err != nil {
		t.Fatal(err)
	}
	if _, err := retention.Execute(ctx, twin, tpl); err != nil {
		t.Fatal(err)
	}
	got, want := families(t, st), families(t, twin)
	if len(got) != len(want) || tpl.Segments.Len() == 0 {
		t.Fatalf("after prune %d segments left, the twin %d (%d pruned)", len(got), len(want), tpl.Segments.Len())
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			t.Fatalf("prune deleted %s, which the twin kept", n.Key())
		}
	}
	for _, tgt := range []pitr.Target{{Timeline: 3}, {Index: 170, Timeline: 3}} {
		if _, err := w.Restore(ctx, st, tgt); err != nil {
			t.Fatalf("restore %s after prune: %v", tgt, err)
		}
	}

	res := run(t, st, Options{Recipients: []*crypt.Recipient{r}, Identities: []*crypt.Identity{id}})
	if res.Segments.Finished == 0 || res.Segments.Rewrite == 0 {
		t.Fatalf("result %+v: want interrupted rewrites finished and plain ones rewritten", res)
	}
	migratetest.CheckTarget(t, st, []*crypt.Recipient{r}, nil)
	for n, keys := range families(t, st) {
		if len(keys) != 1 || !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, ".g") }) && n.Gen != 0 {
			t.Fatalf("%s: keys %v", n.Key(), keys)
		}
	}
	for _, tgt := range []pitr.Target{{Timeline: 3}, {Index: 170, Timeline: 3}} {
		if _, err := w.Restore(ctx, st, tgt); err != nil {
			t.Fatalf("restore %s after migrate: %v", tgt, err)
		}
	}
}
