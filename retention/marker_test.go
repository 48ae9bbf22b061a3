package retention_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

func putMarker(t *testing.T, st backends.Store, id string, started time.Time) string {
	t.Helper()
	b, err := snapshot.EncodeInProgress(id, started)
	if err != nil {
		t.Fatal(err)
	}
	key := snapshot.InProgressKey(id)
	if err := st.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestMarkerKeys: markers are not manifests to anyone; a finished upload
// leaves none behind.
func TestMarkerKeys(t *testing.T) {
	ctx := context.Background()
	st := newMem()
	l := newLinear(t, st)
	if ks := rt.Keys(t, st); len(filterPrefix(ks, snapshot.InProgressPrefix)) != 0 {
		t.Fatalf("finished uploads left markers: %v", filterPrefix(ks, snapshot.InProgressPrefix))
	}
	key := putMarker(t, st, "0123456789abcdef", l.w.Now())
	if _, err := segments.ParseSnapshotKey(key); err == nil {
		t.Fatalf("ParseSnapshotKey accepts %s", key)
	}
	if _, err := snapshot.Load(ctx, st, key); err == nil {
		t.Fatal("Load reads a marker")
	}
	infos, err := snapshot.List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 5 {
		t.Fatalf("List: %d snapshots, want the 5 bases", len(infos))
	}
	m, err := snapshot.ReadInProgress(ctx, st, key)
	if err != nil || m.ID != "0123456789abcdef" || !m.Started.Equal(l.w.Now()) {
		t.Fatalf("marker %+v, %v", m, err)
	}
	for _, bad := range []string{"snapshots/inprogress/x.json", "snapshots/inprogress/0123456789ABCDEF.json", "snapshots/00000001/inprogress.json"} {
		if _, err := snapshot.ParseInProgressKey(bad); err == nil {
			t.Errorf("ParseInProgressKey accepts %s", bad)
		}
	}
	// Restores and plans ignore it.
	mustRestore(t, l.w, st, pitr.Target{Index: 250})
}

func filterPrefix(m map[string]int64, p string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, p) {
			out = append(out, k)
		}
	}
	return out
}

// TestMarkerHoldsChunks: a marker younger than 24h (or unreadable, or from
// the future) holds every chunk deletion back, and the plan says so; an
// older one does not and is deleted.
func TestMarkerHoldsChunks(t *testing.T) {
	pol := retention.Policy{Snapshots: 1, Window: 2 * time.Hour}
	for _, c := range []struct {
		name string
		put  func(t *testing.T, st backends.Store, now time.Time) string
		hold bool
	}{
		{"fresh", func(t *testing.T, st backends.Store, now time.Time) string {
			return putMarker(t, st, "00000000000000a1", now.Add(-23*time.Hour))
		}, true},
		{"future", func(t *testing.T, st backends.Store, now time.Time) string {
			return putMarker(t, st, "00000000000000a2", now.Add(time.Hour))
		}, true},
		{"unreadable", func(t *testing.T, st backends.Store, now time.Time) string {
			key := snapshot.InProgressKey("00000000000000a3")
			if err := st.Put(context.Background(), key, strings.NewReader("garbage"), 7); err != nil {
				t.Fatal(err)
			}
			return key
		}, true},
		{"expired", func(t *testing.T, st backends.Store, now time.Time) string {
			return putMarker(t, st, "00000000000000a4", now.Add(-25*time.Hour))
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newMem()
			l := newLinear(t, st)
			now := l.w.Now()
			orphan := putChunk(t, st, []byte("left by a failed upload"))
			key := c.put(t, st, now)
			pl := plan(t, st, pol, now)
			var b bytes.Buffer
			pl.Describe(&b)
			if c.hold {
				if len(pl.Chunks) != 0 || pl.HeldChunks != 2 || !strings.Contains(pl.Hold, key) || !strings.Contains(b.String(), "chunks held back") {
					t.Fatalf("chunks %d, held %d, hold %q", len(pl.Chunks), pl.HeldChunks, pl.Hold)
				}
				if len(pl.Markers) != 0 {
					t.Fatalf("deletes markers %v", pl.Markers)
				}
			} else {
				if len(pl.Chunks) != 2 || pl.Hold != "" || len(pl.Markers) != 1 || pl.Markers[0].Key != key {
					t.Fatalf("chunks %d, hold %q, markers %v", len(pl.Chunks), pl.Hold, pl.Markers)
				}
			}
			execute(t, st, pl)
			_, err := st.Stat(context.Background(), orphan)
			if c.hold != (err == nil) {
				t.Fatalf("orphan chunk: %v", err)
			}
			_, err = st.Stat(context.Background(), key)
			if c.hold != (err == nil) {
				t.Fatalf("marker: %v", err)
			}
			rt.ManifestsComplete(t, st)
		})
	}
}

// markerOnFirstDelete writes an in-progress marker when the prune deletes
// its first object: an upload begins while the prune runs.
type markerOnFirstDelete struct {
	backends.Store
	once sync.Once
	t    *testing.T
}

func (m *markerOnFirstDelete) Delete(ctx context.Context, key string) error {
	m.once.Do(func() { putMarker(m.t, m.Store, "00000000000000b1", time.Now()) })
	return m.Store.Delete(ctx, key)
}

func TestMarkerAppearsDuringExecute(t *testing.T) {
	st := newMem()
	l := newLinear(t, st)
	pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 2 * time.Hour}, l.w.Now())
	if len(pl.Chunks) == 0 || len(pl.Manifests) == 0 {
		t.Fatal("fixture: nothing to delete")
	}
	s, err := retention.Execute(context.Background(), &markerOnFirstDelete{Store: st, t: t}, pl)
	if err != nil {
		t.Fatal(err)
	}
	if s.Chunks != 0 || s.ChunksDeferred != len(pl.Chunks) || s.Manifests != len(pl.Manifests) || s.Segments != pl.Segments.Len() || len(s.Notes) == 0 {
		t.Fatalf("stats %+v", s)
	}
	for _, d := range pl.Chunks {
		if _, err := st.Stat(context.Background(), d.Key); err != nil {
			t.Fatalf("chunk %s deleted though an upload began", d.Key)
		}
	}
}

// TestNewManifestSpared: a snapshot stored after the plan that reuses the
// chunks of a pruned base keeps them.
func TestNewManifestSpared(t *testing.T) {
	st := newMem()
	l := newLinear(t, st)
	l.w.Extra = 3 * rt.ChunkSize
	old := l.w.Base(1, 10)
	pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 2 * time.Hour}, l.w.Now())
	if !deletedKeys(pl, retention.KindManifest)[old.Key] {
		t.Fatal("fixture: the base at 10 stays")
	}
	// The same state again: every chunk is stored already, so the upload
	// stores none and its manifest refers to the chunks planned for
	// deletion.
	src := l.w.DataDir(1, 10)
	m, stats, err := snapshot.Upload(context.Background(), st, snapshot.Source{Dir: src, Index: 10}, snapshot.Options{ChunkSize: rt.ChunkSize})
	if err != nil || stats.ChunksUploaded != 0 {
		t.Fatalf("upload: %+v %v", stats, err)
	}
	s, err := retention.Execute(context.Background(), st, pl)
	if err != nil {
		t.Fatal(err)
	}
	if s.ChunksSpared == 0 || s.ChunksSpared != len(chunksOf(t, st, m.Key()))-countKept(t, st, pl, m.Key()) {
		t.Fatalf("stats %+v", s)
	}
	rt.ManifestsComplete(t, st)
	out := t.TempDir() + "/data"
	if err := snapshot.RestoreFiles(context.Background(), st, m, out); err != nil {
		t.Fatal(err)
	}
}

// countKept counts the chunks of manifest key the plan did not list.
func countKept(t *testing.T, st backends.Store, pl *retention.PrunePlan, key string) int {
	del := deletedKeys(pl, retention.KindChunk)
	n := 0
	for c := range chunksOf(t, st, key) {
		if !del[c] {
			n++
		}
	}
	return n
}

// blockManifest holds an upload's manifest Put until released: an upload
// in progress, its chunks stored, its manifest not yet.
type blockManifest struct {
	backends.Store
	reached chan struct{}
	release chan struct{}
}

func (b *blockManifest) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if _, err := segments.ParseSnapshotKey(key); err == nil {
		close(b.reached)
		<-b.release
	}
	return b.Store.Put(ctx, key, r, size)
}

// TestUploadInProgress: a prune while a snapshot upload that relies on
// the chunks of a pruned base is between its chunks and its manifest
// deletes none of them; the snapshot restores.
func TestUploadInProgress(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, st backends.Store) {
		l := newLinear(t, st)
		l.w.Extra = 4 * rt.ChunkSize
		old := l.w.Base(1, 10)
		src := l.w.DataDir(1, 10) // the upload finds every chunk stored
		fresh := l.w.DataDir(1, 290)
		_ = old
		for _, dir := range []string{src, fresh} {
			bs := &blockManifest{Store: st, reached: make(chan struct{}), release: make(chan struct{})}
			var m snapshot.Manifest
			var upErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				m, _, upErr = snapshot.Upload(ctx, bs, snapshot.Source{Dir: dir, Index: 10}, snapshot.Options{ChunkSize: rt.ChunkSize})
			}()
			<-bs.reached
			pl := plan(t, st, retention.Policy{Snapshots: 1, Window: 2 * time.Hour}, l.w.Now())
			if pl.Hold == "" || len(pl.Chunks) != 0 {
				t.Fatalf("plan during an upload: hold %q, %d chunks", pl.Hold, len(pl.Chunks))
			}
			execute(t, st, pl)
			close(bs.release)
			<-done
			if upErr != nil {
				t.Fatal(upErr)
			}
			rt.ManifestsComplete(t, st)
			if err := snapshot.RestoreFiles(ctx, st, m, t.TempDir()+"/data"); err != nil {
				t.Fatal(err)
			}
			if ks := filterPrefix(rt.Keys(t, st), snapshot.InProgressPrefix); len(ks) != 0 {
				t.Fatalf("markers left: %v", ks)
			}
		}
	})
}
