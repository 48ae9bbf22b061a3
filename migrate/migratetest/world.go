// Package migratetest builds stores for walship migrate's tests: a known
// history (retentiontest.World) with a fork, a gap, points and a base,
// every target of it restored and compared byte for byte, and checks that
// a migrated store holds only objects in the target form.
package migratetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// Build ships into st: timeline 1 (entries 1..120), timeline 2 forked
// from it at 80 (a TruncateBack, 60 entries of its own), timeline 3 after
// a gap in timeline 2 (from 150, 40 entries), points on each, and one base
// on timeline 1. Segments are version 1, records plain.
func Build(t testing.TB, st backends.Store) *retentiontest.World {
	t.Helper()
	w := retentiontest.New(t, st, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Second)
	w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "first"}, 120)
	w.Timeline(segments.Timeline{ID: 2, Parent: 1, ForkIndex: 80, StartIndex: 81, Reason: "TruncateBack"}, 60)
	w.Timeline(segments.Timeline{ID: 3, Parent: 2, ForkIndex: 140, StartIndex: 150, Reason: "TruncateFront"}, 40)
	w.Point("before-fork", 1, 70, false)
	w.Point("pinned", 2, 120, true)
	w.Point("after-gap", 3, 160, false)
	w.Base(1, 30)
	w.Base(2, 100)
	return w
}

// Targets are the restores RestoreAll checks.
func Targets() []pitr.Target {
	return []pitr.Target{
		{Timeline: 1}, {Timeline: 2}, {Timeline: 3}, {Index: 50, Timeline: 1}, {Index: 100, Timeline: 2},
		{Index: 170, Timeline: 3}, {Point: "before-fork"}, {Point: "pinned"}, {Point: "after-gap"},
	}
}

// RestoreAll restores every target of Targets from st with w's identities
// and compares each with the model, byte for byte (a base migrate wrote
// is compared with the data directory of the base at its position).
func RestoreAll(t testing.TB, w *retentiontest.World, st backends.Store) {
	t.Helper()
	Adopt(t, w, st)
	for _, tgt := range Targets() {
		if _, err := w.Restore(context.Background(), st, tgt); err != nil {
			t.Fatalf("restore %s: %v", tgt, err)
		}
	}
}

// Object is a stored object's key and content.
type Object struct {
	Key  string
	Data []byte
}

// Objects reads every object of st, in key order.
func Objects(t testing.TB, st backends.Store) []Object {
	t.Helper()
	ctx := context.Background()
	var out []Object
	err := st.List(ctx, "", "", func(oi backends.ObjectInfo) error {
		rc, err := st.Get(ctx, oi.Key, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		out = append(out, Object{oi.Key, b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Same reports whether two listings hold the same keys and bytes.
func Same(a, b []Object) bool {
	return slices.EqualFunc(a, b, func(x, y Object) bool { return x.Key == y.Key && bytes.Equal(x.Data, y.Data) })
}

// CheckTarget fails unless every segment of st is version 2 sealed to
// exactly rs (plain with none), one generation each, every timeline
// record, point and manifest is in rs's form, every chunk is version 2
// sealed to rs (version 1 with none) and referenced by a manifest, every
// key record is sealed to rs (none when plain), and no in-progress marker
// is left; and, given retired identities, that none of them opens any of
// those objects.
func CheckTarget(t testing.TB, st backends.Store, rs []*crypt.Recipient, retired []*crypt.Identity) {
	t.Helper()
	fps := crypt.Fingerprints(rs)
	seen := map[segments.SegmentName]string{}
	refs := map[string]bool{}
	objs := Objects(t, st)
	for _, o := range objs {
		checkBaseObject(t, o, fps, retired, refs)
		switch {
		case bytes.HasPrefix([]byte(o.Key), []byte(segments.SegmentsPrefix)):
			n, err := segments.ParseSegmentKey(o.Key)
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := seen[n.Family()]; ok {
				t.Fatalf("%s and %s: two generations left", other, o.Key)
			}
			seen[n.Family()] = o.Key
			h, _, err := segments.ReadHeader(bytes.NewReader(o.Data))
			if err != nil || h.Version != segments.Version2 || !sameFPs(h.Recipients, fps) {
				t.Fatalf("%s: version %d sealed to %v (%v), want version 2 sealed to %v", o.Key, h.Version, h.Recipients, err, fps)
			}
			if len(retired) > 0 {
				if _, err := segments.NewReaderWith(bytes.NewReader(o.Data), segments.ReadOptions{Identities: retired}); !errors.Is(err, crypt.ErrNoIdentity) {
					t.Fatalf("%s opens with a retired identity: %v", o.Key, err)
				}
			}
		case bytes.HasPrefix([]byte(o.Key), []byte(segments.TimelinesPrefix)):
			_, info, _ := segments.DecodeTimelineWith(o.Data, nil)
			_, _, err := segments.DecodeTimelineWith(o.Data, retired)
			checkRecord(t, o.Key, info, err, fps, len(retired) > 0)
		case bytes.HasPrefix([]byte(o.Key), []byte(segments.PointsPrefix)):
			_, info, _ := segments.DecodePointWith(o.Data, nil)
			_, _, err := segments.DecodePointWith(o.Data, retired)
			checkRecord(t, o.Key, info, err, fps, len(retired) > 0)
		}
	}
	checkRefs(t, objs, refs)
}

func checkRecord(t testing.TB, key string, info segments.RecordInfo, err error, fps []crypt.Fingerprint, retired bool) {
	t.Helper()
	if retired {
		if !errors.Is(err, crypt.ErrNoIdentity) {
			t.Fatalf("%s opens with a retired identity: %v", key, err)
		}
	} else if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	want := 1
	if len(fps) > 0 {
		want = segments.RecordVersion2
	}
	if info.Version != want || !sameFPs(info.Recipients, fps) {
		t.Fatalf("%s: record version %d sealed to %v, want version %d sealed to %v", key, info.Version, info.Recipients, want, fps)
	}
}

func sameFPs(a, b []crypt.Fingerprint) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}
