package pitr

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
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
	at := Target{Time: time.Unix(0, 1767323045200000000)}
	// The store's segments are encrypted: a plain point is refused.
	if _, err := MarkWith(ctx, st, "p", false, at, PointOptions{Identities: ids}); !errors.Is(err, ErrPlainPoint) {
		t.Fatalf("plain point in an encrypted store: %v, want ErrPlainPoint", err)
	}
	rcpt, _ := ids[0].Recipient()
	sealTo := func(multi.Member) []*crypt.Recipient { return []*crypt.Recipient{rcpt} }
	p, err := MarkWith(ctx, st, "p", true, at, PointOptions{Identities: ids, SealTo: sealTo})
	if err != nil || p.Index != 200 || p.Time.UnixNano() != 1767323045200000000 {
		t.Fatalf("mark with an identity: %+v %v", p, err)
	}
	// Without an identity the clear fields plan a restore to it.
	got, err := LoadPoint(ctx, st, "p")
	if err != nil || got.Index != 200 || !got.Pinned || !got.Time.IsZero() {
		t.Fatalf("the point read without identity: %+v %v", got, err)
	}
	if _, err := MakePlan(ctx, st, Target{Point: "p"}); err != nil {
		t.Fatalf("plan to the encrypted point: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(st.Root(), "points", "p.json"))
	if err != nil {
		t.Fatal(err)
	}
	full, info, err := segments.DecodePointWith(b, ids)
	if err != nil || full != p || info.Version != 2 || !info.Opened {
		t.Fatalf("stored point %+v as %+v (%v), want %+v sealed", full, info, err, p)
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
	if err := p.Measure(ctx, st, MeasureOptions{Identities: ids}); err != nil || p.Rates == nil || p.Rates.Objects != p.Segments.Len() {
		t.Fatalf("measure with an identity: %v, rates %+v", err, p.Rates)
	}
}
