package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

func segmentKeys(t *testing.T, st backends.Store) []string {
	t.Helper()
	var keys []string
	err := st.List(context.Background(), segments.SegmentsPrefix, "", func(oi backends.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Two stores, each damaged in a different place: restore through both falls
// back per object and is byte-identical; each store alone fails naming its
// damage; verify names the damaged store's object.
func TestRestoreFallsBackAcrossStores(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	a, b := mem.New(), mem.New()
	src.write(1200, "x")
	r := startAgent(t, src.dir, "", a, b)
	r.waitShipped(t, 1, 1200)
	r.halt(t)
	keys := segmentKeys(t, a)
	if len(keys) < 6 {
		t.Fatalf("only %d segments", len(keys))
	}
	missing, corrupt := keys[2], keys[4]
	if err := a.Delete(context.Background(), missing); err != nil {
		t.Fatal(err)
	}
	if err := b.Corrupt(corrupt, segments.HeaderSizeV1+10); err != nil {
		t.Fatal(err)
	}
	if err := b.Corrupt(segments.TimelineKey(1), 40); err != nil {
		t.Fatal(err)
	}
	both := multi.New(multi.Member{Name: "a", Store: a}, multi.Member{Name: "b", Store: b})
	restoreAndCompare(t, both, pitr.Target{Latest: true}, src.want, 1, 1200)
	restoreAndCompare(t, multi.New(multi.Member{Name: "b", Store: b}, multi.Member{Name: "a", Store: a}), pitr.Target{Index: 900}, src.want, 1, 900)

	_, _, err := pitr.Restore(context.Background(), b, pitr.Target{Latest: true}, t.TempDir(), pitr.Options{})
	if err == nil || !strings.Contains(err.Error(), segments.TimelineKey(1)) {
		t.Fatalf("restore from the damaged store alone: %v, want an error naming %s", err, segments.TimelineKey(1))
	}
	_, _, err = pitr.Restore(context.Background(), a, pitr.Target{Latest: true}, t.TempDir(), pitr.Options{})
	if n, _ := segments.ParseSegmentKey(missing); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d..%d", n.First, n.Last)) {
		t.Fatalf("restore from the store missing a segment: %v, want an error naming entries %d..%d", err, n.First, n.Last)
	}
	rep, err := pitr.Verify(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	var damaged []string
	for _, d := range rep.Damaged {
		damaged = append(damaged, d.Key)
	}
	if rep.OK() || strings.Join(damaged, " ") != corrupt+" "+segments.TimelineKey(1) {
		t.Fatalf("verify of store b: %+v, want %s and the timeline record damaged", rep, corrupt)
	}
	rep, err = pitr.Verify(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Gaps) != 1 || len(rep.Damaged) != 0 {
		t.Fatalf("verify of store a: %+v, want the deleted segment reported missing", rep)
	}
}
