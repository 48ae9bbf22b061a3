package pitr

import (
	"context"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

func chunkKeys(b base) []string {
	var out []string
	for _, f := range b.m.Files {
		for _, d := range f.Chunks {
			out = append(out, segments.ChunkKey(d))
		}
	}
	return out
}

func countKeys(t *testing.T, st backends.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := st.List(context.Background(), prefix, "", func(backends.ObjectInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// Verify and Copy cover snapshots, chunks and restore points: damage is
// reported and never copied, and a point no restore can reach is listed.
func TestVerifyAndCopyBases(t *testing.T) {
	ctx := context.Background()
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			f := newFixture(t, mk(t), wal.FormatBinary, 70)
			f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 200)
			b1 := putBase(t, f.st, 1, 100, 31)
			b2 := putBase(t, f.st, 1, 150, 32)
			b4 := putBase(t, f.st, 1, 170, 34)
			b3 := putBase(t, f.st, 1, 190, 33)
			for name, n := range map[string]uint64{"ok": 180, "gone": 60} {
				if _, err := Mark(ctx, f.st, name, false, Target{Index: n}); err != nil {
					t.Fatal(err)
				}
			}
			nchunks := countKeys(t, f.st, segments.ChunksPrefix)

			// Clean: everything verifies, and a copy restores from its bases.
			r, err := Verify(ctx, f.st)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.Snapshots != 4 || r.Chunks != nchunks || r.Points != 2 || len(r.UnrestorablePoints) != 0 || len(r.Damaged) != 0 {
				t.Fatalf("clean report %+v", r)
			}
			clean := mem.New()
			cs, err := Copy(ctx, f.st, clean, 3, t.TempDir())
			if err != nil || len(cs.Skipped) != 0 || cs.Copied != r.Objects {
				t.Fatalf("clean copy %+v %v (objects %d)", cs, err, r.Objects)
			}
			restoreBase(t, clean, Target{Point: "ok"}, &b4, wal.FormatBinary, f.own[1][170:180], 180)

			// Damage: a corrupt chunk (b2), a missing chunk (b1), a corrupt
			// manifest (b3), a record that is not a point, foreign keys, and
			// a lost segment under the point "gone".
			badChunk, lostChunk := chunkKeys(b2)[2], chunkKeys(b1)[1]
			flip(t, f.st, badChunk, segments.ChunkHeaderSizeV1+3)
			if err := f.st.Delete(ctx, lostChunk); err != nil {
				t.Fatal(err)
			}
			flip(t, f.st, b3.m.Key(), 60)
			put(t, f.st, segments.PointKey("bad"), []byte(`{"format":"walship.point","version":1,"body":{},"sha256":"00"}`))
			put(t, f.st, "snapshots/evil.json", []byte("x"))
			put(t, f.st, "chunks/zz/nothex", []byte("x"))
			put(t, f.st, "points/-bad.json", []byte("x"))
			victim := f.keys[1][1]
			lost, _ := segments.ParseSegmentKey(victim)
			if lost.Last >= 60 {
				t.Fatalf("fixture: second segment ends at %d", lost.Last)
			}
			if err := f.st.Delete(ctx, victim); err != nil {
				t.Fatal(err)
			}

			r, err = Verify(ctx, f.st)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, d := range r.Damaged {
				got[d.Key] = append(got[d.Key], d.Problem)
			}
			has := func(key, want string) {
				t.Helper()
				for _, p := range got[key] {
					if strings.Contains(p, want) {
						return
					}
				}
				t.Errorf("no damage for %s saying %q; damage: %+v", key, want, r.Damaged)
			}
			has(badChunk, "content hashes to")
			has(b2.m.Key(), "refers to 1 damaged chunk(s): "+badChunk)
			has(b1.m.Key(), "refers to 1 chunk(s) the store does not hold: "+lostChunk)
			has(b3.m.Key(), "SHA-256")
			has(segments.PointKey("bad"), "restore point")
			has("snapshots/evil.json", "not a walship snapshot manifest key")
			has("chunks/zz/nothex", "not a walship chunk key")
			has("points/-bad.json", "not a walship restore point key")
			if len(r.Damaged) != 8 || r.OK() {
				t.Fatalf("damage %+v", r.Damaged)
			}
			if len(r.UnrestorablePoints) != 1 || r.UnrestorablePoints[0].Key != segments.PointKey("gone") ||
				!strings.Contains(r.UnrestorablePoints[0].Problem, "no stored segment holds entries") {
				t.Fatalf("unrestorable points %+v", r.UnrestorablePoints)
			}
			var d strings.Builder
			r.Describe(&d)
			for _, want := range []string{"4 snapshots", "restore points", "DAMAGED " + badChunk, "UNRESTORABLE POINT points/gone.json"} {
				if !strings.Contains(d.String(), want) {
					t.Errorf("Describe lacks %q:\n%s", want, d.String())
				}
			}

			// Copy refuses what is damaged, and manifests whose chunks it
			// could not copy.
			dst := mem.New()
			cs, err = Copy(ctx, f.st, dst, 3, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			skipped := map[string]string{}
			for _, s := range cs.Skipped {
				skipped[s.Key] = s.Problem
			}
			for key, want := range map[string]string{
				badChunk:                 "damaged in the source",
				b2.m.Key():               "names 1 chunk(s) the destination does not hold",
				b1.m.Key():               "names 1 chunk(s) the destination does not hold",
				b3.m.Key():               "damaged in the source",
				segments.PointKey("bad"): "damaged in the source",
				"snapshots/evil.json":    "not a walship snapshot manifest key",
				"chunks/zz/nothex":       "not a walship chunk key",
				"points/-bad.json":       "not a walship restore point key",
			} {
				if !strings.Contains(skipped[key], want) {
					t.Errorf("copy of %s: %q, want %q", key, skipped[key], want)
				}
			}
			if len(cs.Skipped) != 8 {
				t.Fatalf("skipped %+v", cs.Skipped)
			}
			for _, key := range []string{b4.m.Key(), segments.PointKey("ok"), segments.PointKey("gone")} {
				if _, err := dst.Stat(ctx, key); err != nil {
					t.Fatalf("%s not copied: %v", key, err)
				}
			}
			restoreBase(t, dst, Target{Point: "ok"}, &b4, wal.FormatBinary, f.own[1][170:180], 180)
			rd, err := Verify(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			if len(rd.Damaged) != 0 || rd.Snapshots != 1 {
				t.Fatalf("copy's report %+v", rd)
			}
		})
	}
}
