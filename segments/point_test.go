package segments

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestPointRecord(t *testing.T) {
	p := Point{Name: "before-migration_2", Timeline: 3, Index: 991, Time: time.Unix(1700000000, 0).UTC(), Created: time.Unix(1700000001, 0).UTC(), Pinned: true}
	b, err := EncodePoint(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePoint(b)
	if err != nil || got.Name != p.Name || got.Index != 991 || !got.Pinned || !got.Time.Equal(p.Time) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	if _, err := DecodePoint(bytes.Replace(b, []byte(`991`), []byte(`992`), 1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered point: %v", err)
	}
	if n, err := ParsePointKey(PointKey(p.Name)); err != nil || n != p.Name {
		t.Fatalf("key: %s %v", n, err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "a..b", "x y", string(make([]byte, 101))} {
		if ValidPointName(bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
		if _, err := ParsePointKey(PointsPrefix + bad + ".json"); err == nil {
			t.Errorf("key for %q parsed", bad)
		}
	}
}
