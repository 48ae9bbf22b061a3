package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// sampleTree writes a data dir with every kind of entry a snapshot holds.
func sampleTree(t *testing.T, dir string) {
	t.Helper()
	mkdir(t, dir, 0o750)
	writeFile(t, filepath.Join(dir, "big.db"), randBytes(1, 20<<20+123), 0o640) // 6 chunks, a partial last one
	writeFile(t, filepath.Join(dir, "exact"), randBytes(2, 4<<20), 0o600)       // exactly one chunk
	writeFile(t, filepath.Join(dir, "text.log"), []byte(strings.Repeat("log line\n", 50000)), 0o644)
	writeFile(t, filepath.Join(dir, "empty"), nil, 0o600)
	writeFile(t, filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	writeFile(t, filepath.Join(dir, "sub", "deeper", "x"), []byte("x"), 0o444)
	writeFile(t, filepath.Join(dir, "sub", "same-as-x"), []byte("x"), 0o600)
	mkdir(t, filepath.Join(dir, "empty-dir"), 0o700)
	mkdir(t, filepath.Join(dir, "ro"), 0o755)
	writeFile(t, filepath.Join(dir, "ro", "f"), []byte("in a read-only dir"), 0o400)
	mkdir(t, filepath.Join(dir, "ro"), 0o555)
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "ro"), 0o755) })
	symlink(t, "big.db", filepath.Join(dir, "current"))
	symlink(t, "../../text.log", filepath.Join(dir, "sub", "deeper", "up"))
	symlink(t, "deeper", filepath.Join(dir, "sub", "dirlink"))
	symlink(t, "missing-but-inside", filepath.Join(dir, "dangling"))
}

func TestRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, ts testStore) {
		ctx := context.Background()
		src := filepath.Join(t.TempDir(), "data")
		sampleTree(t, src)
		m, stats, err := snapshot.Upload(ctx, ts.st, snapshot.Source{Dir: src, Index: 777}, snapshot.Options{Timeline: 3})
		if err != nil {
			t.Fatal(err)
		}
		if m.Index != 777 || m.Timeline != 3 || m.Source.Method != segments.MethodAPI || m.ChunkSize != snapshot.DefaultChunkSize {
			t.Fatalf("manifest %+v", m)
		}
		wantBytes := int64(20<<20 + 123 + 4<<20 + 450000 + 10 + 1 + 1 + 18)
		if stats.Files != 8 || stats.Dirs != 4 || stats.Symlinks != 4 || stats.BytesRead != wantBytes || m.TotalSize != wantBytes {
			t.Fatalf("stats %+v, total %d, want %d bytes", stats, m.TotalSize, wantBytes)
		}
		// big.db 6, exact 1, text.log 1, run.sh 1, x 1, same-as-x 1 (the
		// same bytes as x), ro/f 1: 12 chunk references, 11 distinct.
		if stats.Chunks != 12 || stats.ChunksUploaded != 11 || stats.ChunksSkipped != 1 || len(keys(t, ts.st, segments.ChunksPrefix)) != 11 {
			t.Fatalf("chunks: %+v, stored %d", stats, len(keys(t, ts.st, segments.ChunksPrefix)))
		}
		infos, err := snapshot.List(ctx, ts.st)
		if err != nil || len(infos) != 1 || infos[0].Key != m.Key() || infos[0].Index != 777 || infos[0].Timeline != 3 || infos[0].ID != m.ID {
			t.Fatalf("list: %+v %v", infos, err)
		}
		loaded, err := snapshot.Load(ctx, ts.st, m.Key())
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "restored", "data")
		if err := snapshot.RestoreFiles(ctx, ts.st, loaded, out); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(filepath.Join(out, "ro"), 0o755) // let t.TempDir clean up
		sameTree(t, src, out)
		onlyEntries(t, filepath.Dir(out), "data")
	})
}

func TestDedupUploadsOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	src := t.TempDir()
	var total int64
	for i := range 100 {
		n := 100<<10 + (i*9173)%(900<<10) // 100 KiB .. 1 MiB
		total += int64(n)
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%03d", i)), randBytes(uint64(i), n), 0o600)
	}
	_, first, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 1}, opts())
	if err != nil {
		t.Fatal(err)
	}
	if first.ChunksUploaded != 100 || first.BytesRead != total {
		t.Fatalf("first snapshot: %+v", first)
	}
	changed := filepath.Join(src, "f042")
	old, _ := os.ReadFile(changed)
	writeFile(t, changed, randBytes(4242, len(old)), 0o600)
	m, second, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 2}, opts())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second snapshot: %d of %d bytes uploaded (%.2f%%)", second.BytesUploaded, second.BytesRead, 100*float64(second.BytesUploaded)/float64(second.BytesRead))
	if second.ChunksUploaded != 1 || second.ChunksSkipped != 99 || second.Chunks != 100 {
		t.Fatalf("second snapshot uploaded %d chunks, want only the changed file's 1: %+v", second.ChunksUploaded, second)
	}
	if second.BytesRead != total || second.BytesUploaded >= total*3/100 {
		t.Fatalf("second snapshot uploaded %d of %d bytes, want < 3%%", second.BytesUploaded, total)
	}
	out := filepath.Join(t.TempDir(), "data")
	if err := snapshot.RestoreFiles(ctx, st, m, out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, out)
}

// hidingStore lists no chunks, so the uploader learns of stored chunks only
// from Put's ErrExists.
type hidingStore struct{ backends.Store }

func (h hidingStore) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if strings.HasPrefix(prefix, segments.ChunksPrefix) {
		return nil
	}
	return h.Store.List(ctx, prefix, after, fn)
}

func TestChunkStoredMeanwhileCountsAsSkipped(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), randBytes(1, 3000), 0o600)
	writeFile(t, filepath.Join(src, "b"), randBytes(2, 3000), 0o600)
	if _, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 1}, snapshot.Options{ChunkSize: 1024}); err != nil {
		t.Fatal(err)
	}
	_, stats, err := snapshot.Upload(ctx, hidingStore{st}, snapshot.Source{Dir: src, Index: 2}, snapshot.Options{ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Chunks != 6 || stats.ChunksUploaded != 0 || stats.ChunksSkipped != 6 || stats.BytesUploaded != 0 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestInterruptedUploadLeavesNoManifest(t *testing.T) {
	src := t.TempDir()
	for i := range 10 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), randBytes(uint64(i), 5000), 0o600)
	}
	t.Run("cancel", func(t *testing.T) {
		st := mem.New()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		o := snapshot.Options{ChunkSize: 1024}
		snapshot.SetAfterFile(&o, func(n int) {
			if n == 4 {
				cancel()
			}
		})
		_, stats, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 1}, o)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		noManifest(t, st)
		if stats.Files != 4 {
			t.Fatalf("read %d files before the cancel took, want 4", stats.Files)
		}
	})
	t.Run("store fails", func(t *testing.T) {
		st := &failingStore{Store: mem.New(), failAt: 7}
		_, _, err := snapshot.Upload(context.Background(), st, snapshot.Source{Dir: src, Index: 1}, snapshot.Options{ChunkSize: 1024})
		if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "store chunk chunks/") {
			t.Fatalf("err %v", err)
		}
		noManifest(t, st)
	})
}

// failingStore fails the failAt-th Put.
type failingStore struct {
	backends.Store
	puts   atomic.Int32
	failAt int32
}

func (f *failingStore) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if f.puts.Add(1) == f.failAt {
		return fmt.Errorf("put %s: disk on fire", key)
	}
	return f.Store.Put(ctx, key, r, size)
}

func TestUploadRefusesWhatASnapshotCannotHold(t *testing.T) {
	cases := []struct {
		name string
		make func(t *testing.T, dir string)
		msg  string
	}{
		{"absolute symlink", func(t *testing.T, dir string) { symlink(t, "/etc/passwd", filepath.Join(dir, "s")) }, "absolute"},
		{"symlink out", func(t *testing.T, dir string) { symlink(t, "../outside", filepath.Join(dir, "s")) }, "climbs out"},
		{"not UTF-8", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "bad\xff"), nil, 0o600) }, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := mem.New()
			src := t.TempDir()
			writeFile(t, filepath.Join(src, "ok"), []byte("fine"), 0o600)
			c.make(t, src)
			_, _, err := snapshot.Upload(context.Background(), st, snapshot.Source{Dir: src, Index: 1}, opts())
			if !errors.Is(err, snapshot.ErrUnsupported) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %v, want ErrUnsupported containing %q", err, c.msg)
			}
			noManifest(t, st)
		})
	}
}

func TestUploadDetectsAChangingSource(t *testing.T) {
	st := mem.New()
	src := t.TempDir()
	for i := range 5 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), randBytes(uint64(i), 3000), 0o600)
	}
	o := snapshot.Options{ChunkSize: 1024}
	snapshot.SetAfterFile(&o, func(n int) {
		if n == 1 { // f0 is read; f3 grows before its turn
			f, err := os.OpenFile(filepath.Join(src, "f3"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte("more"))
			f.Close()
		}
	})
	_, _, err := snapshot.Upload(context.Background(), st, snapshot.Source{Dir: src, Index: 1}, o)
	if !errors.Is(err, snapshot.ErrModifiedDuringSnapshot) || !strings.Contains(err.Error(), "f3") {
		t.Fatalf("err %v", err)
	}
	noManifest(t, st)
}

func TestListAndLoad(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("content"), 0o600)
	var want []string
	for _, c := range []struct {
		tl  uint32
		idx uint64
	}{{2, 5}, {1, 100}, {1, 9}} {
		m, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: c.idx}, snapshot.Options{Timeline: c.tl})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.Key())
	}
	// Foreign names under snapshots/ are skipped, never read.
	for _, k := range []string{"snapshots/readme.txt", "snapshots/00000001/00000000000000000001-zzzzzzzzzzzzzzzz.json"} {
		if err := st.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := snapshot.List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, in.Key)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{want[2], want[1], want[0]}) {
		t.Fatalf("list %v, want (timeline, index) order of %v", got, want)
	}
	// A manifest stored under another snapshot's key is refused.
	b, _, _ := readAll(ctx, st, want[0])
	moved := segments.SnapshotName{Timeline: 2, Index: 6, ID: "0123456789abcdef"}.Key()
	if err := st.Put(ctx, moved, strings.NewReader(string(b)), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.Load(ctx, st, moved); !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), "describes") {
		t.Fatalf("moved manifest: %v", err)
	}
	if _, err := snapshot.Load(ctx, st, "snapshots/readme.txt"); err == nil {
		t.Fatal("loaded a foreign key")
	}
	st.Corrupt(want[0], 40)
	if _, err := snapshot.Load(ctx, st, want[0]); !errors.Is(err, segments.ErrCorrupt) {
		t.Fatalf("corrupt manifest: %v", err)
	}
}

func readAll(ctx context.Context, st backends.Store, key string) ([]byte, int64, error) {
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, int64(len(b)), err
}

// prunedMeanwhile deletes a chunk after the upload's first listing of
// chunks/, as a prune that planned earlier would.
type prunedMeanwhile struct {
	backends.Store
	lists  int
	victim string
}

func (p *prunedMeanwhile) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if strings.HasPrefix(prefix, segments.ChunksPrefix) {
		p.lists++
		if p.lists == 2 {
			p.Store.Delete(ctx, p.victim)
		}
	}
	return p.Store.List(ctx, prefix, after, fn)
}

func TestChunkPrunedDuringUploadFailsWithoutManifest(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), randBytes(1, 3000), 0o600)
	m, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 1}, snapshot.Options{ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	st.Delete(ctx, m.Key()) // the chunks are garbage now, as a prune would see them
	p := &prunedMeanwhile{Store: st, victim: segments.ChunkKey(m.Files[0].Chunks[1])}
	_, _, err = snapshot.Upload(ctx, p, snapshot.Source{Dir: src, Index: 2}, snapshot.Options{ChunkSize: 1024})
	if !errors.Is(err, snapshot.ErrChunksGone) || !strings.Contains(err.Error(), p.victim) {
		t.Fatalf("upload over a pruned chunk: %v, want ErrChunksGone naming %s", err, p.victim)
	}
	infos, _ := snapshot.List(ctx, st)
	if len(infos) != 0 {
		t.Fatalf("a manifest was written over a missing chunk: %+v", infos)
	}
}
