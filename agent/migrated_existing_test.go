package agent

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/migrate"
	"github.com/walship/walship/pitr"
)

// A segment the store holds only as a newer generation (walship migrate
// rewrote it while the agent still owed it): the shipper, which does not
// list before an upload, puts it again under its generation-0 key; the
// store restores exactly with both, and migrate's next run keeps one.
func TestMigratedGenerationShippedAgain(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	id, r := testIdentity(t)
	e := newEncPair(t, src)
	e.pending(600, r).halt(t)
	items, err := filepath.Glob(filepath.Join(e.state, "spool", "*.wseg"))
	if err != nil || len(items) < 2 {
		t.Fatalf("spool items %v %v", items, err)
	}
	ctx := context.Background()
	n, err := parseItem(filepath.Base(items[0]))
	if err != nil {
		t.Fatal(err)
	}
	gen := n
	gen.Gen = 3
	b := encryptItem(t, items[0], r)
	if err := e.enc.Store.Put(ctx, gen.Key(), bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	e.enc.down.Store(false)
	ag := e.start(r)
	ag.waitShipped(t, 1, 600)
	ag.halt(t)
	if _, err := e.enc.Store.Stat(ctx, n.Key()); err != nil {
		t.Fatalf("%s: %v", n.Key(), err)
	}
	restoreWith(t, e.enc.Store, pitr.Target{Latest: true}, []*crypt.Identity{id}, src.want, 1, 600)
	res, err := migrate.Run(ctx, e.enc.Store, migrate.Options{Recipients: []*crypt.Recipient{r}, Scratch: t.TempDir()})
	if err != nil || res.Segments.Finished != 1 || res.Segments.Rewrite != 0 || len(res.Problems) > 0 {
		t.Fatalf("migrate: %+v, %v", res, err)
	}
	if _, err := e.enc.Store.Stat(ctx, n.Key()); !backends.IsNotFound(err) {
		t.Fatalf("%s is still there beside generation 3: %v", n.Key(), err)
	}
	restoreWith(t, e.enc.Store, pitr.Target{Latest: true}, []*crypt.Identity{id}, src.want, 1, 600)
}
