package pitr

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/crypt"
)

// goldenEncrypted opens a copy of the golden encrypted store and reads
// one of the identities it is sealed to (through a 0600 copy: git does not
// keep the mode).
func goldenEncrypted(t *testing.T) (*file.Store, []*crypt.Identity) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS("../testdata/golden-v2-encrypted")); err != nil {
		t.Fatal(err)
	}
	st, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../testdata/golden-v2-encrypted.identity")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := crypt.ReadIdentityFile(key)
	if err != nil {
		t.Fatal(err)
	}
	return st, ids
}

// TestMarkEncrypted: a point's entry time is read from its segment, so
// marking on an encrypted store needs an identity, and says which.
func TestMarkEncrypted(t *testing.T) {
	ctx := context.Background()
	st, ids := goldenEncrypted(t)
	for _, at := range []Target{{}, {Index: 150}, {Time: time.Unix(0, 1767323045200000000)}} {
		if _, err := Mark(ctx, st, "p", false, at); !errors.Is(err, crypt.ErrNoIdentity) {
			t.Fatalf("mark %s without an identity: %v, want ErrNoIdentity", at, err)
		}
	}
	p, err := MarkWith(ctx, st, "p", false, Target{Time: time.Unix(0, 1767323045200000000)}, PointOptions{Identities: ids})
	if err != nil || p.Index != 200 || p.Time.UnixNano() != 1767323045200000000 {
		t.Fatalf("mark with an identity: %+v %v", p, err)
	}
	if _, err := LoadPoint(ctx, st, "p"); err != nil {
		t.Fatalf("the point was not stored: %v", err)
	}
}

// TestMeasureEncrypted: the estimate's sample is decoded, so it needs an
// identity; without one the plan keeps its guess.
func TestMeasureEncrypted(t *testing.T) {
	ctx := context.Background()
	st, ids := goldenEncrypted(t)
	p, err := MakePlan(ctx, st, Target{})
	if err != nil {
		t.Fatal(err)
	}
	guess := p.Estimate
	if err := p.Measure(ctx, st, MeasureOptions{}); !errors.Is(err, crypt.ErrNoIdentity) || p.Rates != nil || p.Estimate != guess {
		t.Fatalf("measure without an identity: %v, rates %+v, estimate %v (guess %v)", err, p.Rates, p.Estimate, guess)
	}
	if err := p.Measure(ctx, st, MeasureOptions{Identities: ids}); err != nil || p.Rates == nil || p.Rates.Objects != len(p.Segments) {
		t.Fatalf("measure with an identity: %v, rates %+v", err, p.Rates)
	}
}
