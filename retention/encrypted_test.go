package retention_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// Prune on a store whose bases are encrypted, holding no identity: it
// reads each manifest's clear chunk list, keeps every chunk a retained
// base needs, deletes the chunks only the deleted base had, and each
// retained base still restores exactly with the identity.
func TestPruneEncryptedBases(t *testing.T) {
	eachStore(t, func(t *testing.T, st backends.Store) {
		ctx := context.Background()
		id, err := crypt.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		r, _ := id.Recipient()
		secret, err := crypt.NewChunkSecret()
		if err != nil {
			t.Fatal(err)
		}
		w := rt.New(t, st, t0, time.Minute)
		w.Recipients, w.Secret, w.Identities = []*crypt.Recipient{r}, secret, []*crypt.Identity{id}
		w.Extra = 3 * rt.ChunkSize // chunks no other base shares
		w.Timeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "test", Time: t0}, 300)
		bases := map[uint64]rt.Base{}
		for _, i := range []uint64{20, 120, 260} {
			bases[i] = w.Base(1, i)
		}
		pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 2 * time.Hour}, w.Now())
		if got := deletedKeys(pl, retention.KindManifest); len(got) != 1 || !got[bases[20].Key] {
			t.Fatalf("manifests deleted %v, want only the base at 20", got)
		}
		chunkDel := deletedKeys(pl, retention.KindChunk)
		kept := map[string]bool{}
		for _, i := range []uint64{120, 260} {
			maps.Copy(kept, chunksOf(t, st, bases[i].Key))
		}
		own := 0
		for c := range chunksOf(t, st, bases[20].Key) {
			if kept[c] == chunkDel[c] {
				t.Errorf("chunk %s: needed by a retained base %v, deleted %v", c, kept[c], chunkDel[c])
			}
			if !kept[c] {
				own++
			}
		}
		if own < 3 || len(chunkDel) != own {
			t.Fatalf("fixture: base 20 has %d chunks of its own, the plan deletes %d chunks", own, len(chunkDel))
		}
		for c := range kept {
			if !strings.HasPrefix(c, segments.ChunksPrefix) {
				t.Fatalf("not a chunk key: %s", c)
			}
		}
		execute(t, st, pl)
		rt.ManifestsComplete(t, st)
		for _, i := range []uint64{120, 260} {
			p, err := w.Restore(ctx, nil, pitr.Target{Index: i})
			if err != nil || p.Base == nil || p.Base.Key != bases[i].Key {
				t.Fatalf("restore to %d after the prune: %+v %v", i, p, err)
			}
		}
		if ks := rt.Keys(t, st); !hasPrefix(ks, crypt.KeyRecordsPrefix) {
			t.Fatal("prune deleted the key record")
		}
	})
}

func hasPrefix(keys map[string]int64, prefix string) bool {
	for k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
