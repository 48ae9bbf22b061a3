package migrate

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
	"github.com/walship/walship/segments"
)

// sealV1 seals every version 1 segment of st to rs under its own key, as
// an agent configured for rs would have shipped it.
func sealV1(t *testing.T, st backends.Store, rs []*crypt.Recipient) {
	t.Helper()
	ctx := context.Background()
	for _, o := range migratetest.Objects(t, st) {
		if !strings.HasPrefix(o.Key, segments.SegmentsPrefix) {
			continue
		}
		if h, _, err := segments.ReadHeader(bytes.NewReader(o.Data)); err != nil || h.Version != segments.Version1 {
			continue
		}
		var s memSink
		if _, err := segments.EncryptV1(&s, bytes.NewReader(o.Data), rs); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, o.Key); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, o.Key, bytes.NewReader(s.b), int64(len(s.b))); err != nil {
			t.Fatal(err)
		}
	}
}

type memSink struct{ b []byte }

func (s *memSink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *memSink) WriteAt(p []byte, off int64) (int, error) {
	copy(s.b[off:], p)
	return len(p), nil
}

// TestMigrateRotation: segments, records and bases (manifests, chunks, a
// key record) sealed to A, later segments sealed to B; migrated to B it
// needs A's identity (without it: an error naming A's fingerprint, nothing
// changed), and then every object opens with B, none with A (the bases
// under a new chunk secret, A's key record gone), and every target
// restores exactly with B alone.
func TestMigrateRotation(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	idA, rA := identity(t)
	idB, rB := identity(t)
	run(t, st, Options{Recipients: []*crypt.Recipient{rA}})
	w.Append(3, 30)
	sealV1(t, st, []*crypt.Recipient{rB})

	before := migratetest.Objects(t, st)
	o := Options{Recipients: []*crypt.Recipient{rB}, Scratch: t.TempDir()}
	_, err := Run(context.Background(), st, o)
	var ne *crypt.NoIdentityError
	if !errors.As(err, &ne) || len(ne.Recorded) != 1 || ne.Recorded[0] != idA.Fingerprint() ||
		!strings.Contains(err.Error(), idA.Fingerprint().String()) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("migrate without A's identity: %v, want a NoIdentityError naming %s", err, idA.Fingerprint())
	}
	if !migratetest.Same(before, migratetest.Objects(t, st)) {
		t.Fatal("a refused migration changed the store")
	}
	// B's identity alone opens only part of it.
	o.Identities = []*crypt.Identity{idB}
	if _, err := Run(context.Background(), st, o); !errors.Is(err, crypt.ErrNoIdentity) {
		t.Fatalf("migrate with B's identity only: %v", err)
	}

	// A's identity alone: the new objects are checked without opening them.
	res := run(t, st, Options{Recipients: []*crypt.Recipient{rB}, Identities: []*crypt.Identity{idA}})
	if res.Segments.Encrypted == 0 || res.Segments.Current == 0 || res.Timelines.Encrypted != 3 || res.Points.Encrypted != 3 ||
		res.Timelines.Rewrite != 3 || res.Points.Rewrite != 3 || res.Verified.Headers != res.Segments.Rewrite ||
		res.Bases.Rewrite != 2 || res.Bases.Encrypted != 2 || res.KeyRecords.Deleted != 1 {
		t.Fatalf("result %+v: want A's objects rewritten and B's left", res)
	}
	migratetest.CheckTarget(t, st, []*crypt.Recipient{rB}, []*crypt.Identity{idA})
	w.Identities = []*crypt.Identity{idB}
	migratetest.RestoreAll(t, w, st)
}

// TestMigrateDecrypt: a plain target rewrites encrypted objects in the
// clear only when asked to (ErrWouldDecrypt, nothing changed, otherwise);
// then the store restores without an identity.
func TestMigrateDecrypt(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st)
	id, r := identity(t)
	run(t, st, Options{Recipients: []*crypt.Recipient{r}})
	before := migratetest.Objects(t, st)
	if _, err := Run(context.Background(), st, Options{Identities: []*crypt.Identity{id}, Scratch: t.TempDir()}); !errors.Is(err, ErrWouldDecrypt) {
		t.Fatalf("plain target without Decrypt: %v", err)
	}
	if !migratetest.Same(before, migratetest.Objects(t, st)) {
		t.Fatal("a refused migration changed the store")
	}
	res := run(t, st, Options{Identities: []*crypt.Identity{id}, Decrypt: true})
	if res.Timelines.Rewrite != 3 || res.Points.Rewrite != 3 || res.Verified.Entries != res.Segments.Rewrite {
		t.Fatalf("result %+v", res)
	}
	migratetest.CheckTarget(t, st, nil, nil)
	migratetest.RestoreAll(t, w, st)
}
