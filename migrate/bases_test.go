package migrate

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate/migratetest"
)

// TestMigrateReusesSecret: a store whose agent already takes encrypted
// bases (its chunk secret's key record sealed to the target) and holds an
// older plain base: with an identity the plain base's chunks are named
// under the agent's secret, so the chunks both bases share are stored
// once, and no second key record is written.
func TestMigrateReusesSecret(t *testing.T) {
	st := mem.New()
	w := migratetest.Build(t, st) // two plain bases
	id, r := identity(t)
	s, err := crypt.NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	w.Recipients, w.Secret = []*crypt.Recipient{r}, s
	w.Base(3, 170) // the agent's, encrypted: shares shared.bin and the parts with the plain ones
	res := run(t, st, Options{Recipients: []*crypt.Recipient{r}, Identities: []*crypt.Identity{id}})
	if res.Bases.Rewrite != 2 || res.Bases.Current != 1 || res.Chunks.Written >= res.Chunks.Rewrite || res.KeyRecords.Current != 1 {
		t.Fatalf("bases %+v, chunks %+v, key records %+v: want the agent's secret reused", res.Bases, res.Chunks, res.KeyRecords)
	}
	objs := migratetest.Objects(t, st)
	if n := count(objs, crypt.KeyRecordsPrefix); n != 1 || !strings.Contains(strings.Join(keysOf(objs), " "), crypt.KeyRecordKey(s.ID(), crypt.Fingerprints(w.Recipients))) {
		t.Fatalf("key records %v, want the agent's only", keysOf(objs))
	}
	migratetest.CheckTarget(t, st, []*crypt.Recipient{r}, nil)
	migratetest.CheckSealed(t, w, st)
	w.Identities = []*crypt.Identity{id}
	migratetest.RestoreAll(t, w, st)
}

// TestMigrateResealsKeyRecord: bases already sealed to B whose chunk
// secret's only key record is sealed to A: the record is re-sealed to B
// (which needs A's identity: without it an error naming A, nothing
// changed), A's is deleted, and B restores the bases.
func TestMigrateResealsKeyRecord(t *testing.T) {
	st := mem.New()
	idA, rA := identity(t)
	idB, rB := identity(t)
	s, err := crypt.NewChunkSecret()
	if err != nil {
		t.Fatal(err)
	}
	w := migratetest.Build(t, st)
	run(t, st, Options{Recipients: []*crypt.Recipient{rB}})
	// The migrated bases lose their key record (keys/ not copied: they
	// still restore); a base the agent took has only a record sealed to A.
	ctx := context.Background()
	for _, key := range keysOf(migratetest.Objects(t, st)) {
		if crypt.IsKeyRecordKey(key) {
			if err := st.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Recipients, w.Secret = []*crypt.Recipient{rB}, s
	w.Base(3, 170)
	if err := st.Delete(ctx, crypt.KeyRecordKey(s.ID(), crypt.Fingerprints(w.Recipients))); err != nil {
		t.Fatal(err)
	}
	b, err := crypt.EncodeKeyRecord(s, []*crypt.Recipient{rA})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, crypt.KeyRecordKey(s.ID(), []crypt.Fingerprint{idA.Fingerprint()}), bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}

	before := migratetest.Objects(t, st)
	_, err = Run(ctx, st, Options{Recipients: []*crypt.Recipient{rB}, Identities: []*crypt.Identity{idB}, Scratch: t.TempDir()})
	if !errors.Is(err, crypt.ErrNoIdentity) || !strings.Contains(err.Error(), idA.Fingerprint().String()) {
		t.Fatalf("migrate without A's identity: %v, want ErrNoIdentity naming %s", err, idA.Fingerprint())
	}
	if !migratetest.Same(before, migratetest.Objects(t, st)) {
		t.Fatal("a refused migration changed the store")
	}
	res := run(t, st, Options{Recipients: []*crypt.Recipient{rB}, Identities: []*crypt.Identity{idA, idB}})
	if res.Bases.Current != 3 || res.KeyRecords.Rewrite != 1 || res.KeyRecords.Deleted != 1 {
		t.Fatalf("bases %+v, key records %+v", res.Bases, res.KeyRecords)
	}
	migratetest.CheckTarget(t, st, []*crypt.Recipient{rB}, []*crypt.Identity{idA})
	w.Identities = []*crypt.Identity{idB}
	migratetest.RestoreAll(t, w, st)
}

func keysOf(objs []migratetest.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}
