package segments_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// Golden records of version 2 (encrypted timeline records and restore
// points), written once by walship's record v2 code into the golden stores:
// golden-v2-encrypted holds only encrypted records, sealed to both test
// identities; golden-mixed holds timeline 1's record as version 1 beside
// timeline 2's as version 2, a plain point and an encrypted one.
var updateGoldenRecords = flag.Bool("update-golden-records", false, "rewrite the version 2 golden records (only when creating them)")

var goldenTimelines = []segments.Timeline{
	{ID: 1, StartIndex: 1, Reason: "walship started", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	{ID: 2, Parent: 1, ForkIndex: 250, StartIndex: 251, Reason: "TruncateBack", Time: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)},
}

func goldenPoint(name string) segments.Point {
	return segments.Point{Name: name, Timeline: 2, Index: 260, Time: time.Unix(0, goldenTime(260)).UTC(),
		Created: time.Date(2026, 1, 2, 3, 6, 0, 0, time.UTC), Pinned: true}
}

func writeGoldenRecords(t *testing.T, both []*crypt.Recipient) {
	write := func(dir, key string, b []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tl := range goldenTimelines {
		b, err := segments.EncodeTimelineFor(tl, both)
		write(goldenV2Encrypted, segments.TimelineKey(tl.ID), b, err)
	}
	b, err := segments.EncodePointFor(goldenPoint("golden"), both)
	write(goldenV2Encrypted, segments.PointKey("golden"), b, err)
	b, err = segments.EncodeTimelineFor(goldenTimelines[1], both)
	write(goldenMixed, segments.TimelineKey(2), b, err)
	b, err = segments.EncodePoint(goldenPoint("plain"))
	write(goldenMixed, segments.PointKey("plain"), b, err)
	b, err = segments.EncodePointFor(goldenPoint("sealed"), both)
	write(goldenMixed, segments.PointKey("sealed"), b, err)
}

// recordFile reads a golden record and decodes it with ids.
func recordInfo(t *testing.T, dir, key string, ids []*crypt.Identity) (any, segments.RecordInfo, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := segments.ParsePointKey(key); err == nil {
		return segments.DecodePointWith(b, ids)
	}
	return segments.DecodeTimelineWith(b, ids)
}

func TestGoldenRecordsV2(t *testing.T) {
	a, b := loadIdentities(t, goldenIdentityA), loadIdentities(t, goldenIdentityB)
	if *updateGoldenRecords {
		writeGoldenRecords(t, recipientsOf(t, a, b))
	}
	third, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		dir, key string
		version  int
		want     any
	}
	recs := []rec{
		{goldenV2Encrypted, segments.TimelineKey(1), 2, goldenTimelines[0]},
		{goldenV2Encrypted, segments.TimelineKey(2), 2, goldenTimelines[1]},
		{goldenV2Encrypted, segments.PointKey("golden"), 2, goldenPoint("golden")},
		{goldenMixed, segments.TimelineKey(1), 1, goldenTimelines[0]},
		{goldenMixed, segments.TimelineKey(2), 2, goldenTimelines[1]},
		{goldenMixed, segments.PointKey("plain"), 1, goldenPoint("plain")},
		{goldenMixed, segments.PointKey("sealed"), 2, goldenPoint("sealed")},
	}
	for _, r := range recs {
		for _, ids := range [][]*crypt.Identity{a, b} {
			got, info, err := recordInfo(t, r.dir, r.key, ids)
			if err != nil || got != r.want || info.Version != r.version || !info.Opened {
				t.Fatalf("%s %s: %+v %+v %v, want %+v version %d", r.dir, r.key, got, info, err, r.want, r.version)
			}
		}
		if r.version == 2 {
			if _, _, err := recordInfo(t, r.dir, r.key, []*crypt.Identity{third}); !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("%s %s with a third identity: %v", r.dir, r.key, err)
			}
		}
	}
	// A restore to an encrypted point plans from its clear fields and
	// needs an identity only for the segments.
	for _, c := range []struct{ dir, point string }{{goldenV2Encrypted, "golden"}, {goldenMixed, "sealed"}, {goldenMixed, "plain"}} {
		st := openGolden(t, c.dir)
		checkRestores(t, st, []goldenCase{{pitr.Target{Point: c.point}, 2, 1, 260}}, pitr.Options{Identities: a})
		if pl, err := pitr.MakePlan(context.Background(), st, pitr.Target{Point: c.point}); err != nil || pl.To != 260 {
			t.Fatalf("%s: plan to point %s without identity: %+v %v", c.dir, c.point, pl, err)
		}
	}
}
