package snapshot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

func TestRestoreRefusesCorruptChunk(t *testing.T) {
	eachStore(t, func(t *testing.T, ts testStore) {
		ctx := context.Background()
		src := t.TempDir()
		writeFile(t, filepath.Join(src, "a"), randBytes(1, 10000), 0o600)
		writeFile(t, filepath.Join(src, "b"), randBytes(2, 10000), 0o600)
		m, _, err := snapshot.Upload(ctx, ts.st, snapshot.Source{Dir: src, Index: 1}, snapshot.Options{ChunkSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		bad := segments.ChunkKey(m.Files[1].Chunks[2])
		ts.corrupt(t, bad, segments.ChunkHeaderSizeV1+100)
		parent := t.TempDir()
		err = snapshot.RestoreFiles(ctx, ts.st, m, filepath.Join(parent, "data"))
		if !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("err %v, want ErrCorrupt naming %s", err, bad)
		}
		onlyEntries(t, parent) // no data dir, no temporary dir
	})
}

func TestRestoreRefusesMissingChunk(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), randBytes(1, 10000), 0o600)
	m, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 1}, snapshot.Options{ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	gone := segments.ChunkKey(m.Files[0].Chunks[1])
	st.Delete(ctx, gone)
	parent := t.TempDir()
	if err := snapshot.RestoreFiles(ctx, st, m, filepath.Join(parent, "data")); !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err %v", err)
	}
	onlyEntries(t, parent)
}

func TestRestoreTarget(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), []byte("a"), 0o600)
	m, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 1}, opts())
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	full := filepath.Join(parent, "full")
	writeFile(t, filepath.Join(full, "keep"), []byte("mine"), 0o600)
	if err := snapshot.RestoreFiles(ctx, st, m, full); !errors.Is(err, snapshot.ErrDataDirNotEmpty) {
		t.Fatalf("non-empty target: %v", err)
	}
	onlyEntries(t, full, "keep")
	empty := filepath.Join(parent, "empty")
	mkdir(t, empty, 0o755)
	if err := snapshot.RestoreFiles(ctx, st, m, empty); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, empty)
	onlyEntries(t, parent, "empty", "full")
}

// hostile returns a manifest with the given entries and real chunks for its
// files, stored in st.
func hostile(t *testing.T, st *mem.Store, files []segments.SnapshotFile) snapshot.Manifest {
	t.Helper()
	var total int64
	for i := range files {
		if files[i].Type != segments.TypeFile {
			continue
		}
		body := []byte("pwned\n")
		obj, err := segments.EncodeChunk(nil, body, segments.CodecNone)
		if err != nil {
			t.Fatal(err)
		}
		d := segments.DigestOf(body)
		st.Put(context.Background(), segments.ChunkKey(d), strings.NewReader(string(obj)), int64(len(obj)))
		files[i].Size, files[i].SHA256, files[i].Chunks = int64(len(body)), d, []segments.Digest{d}
		total += int64(len(body))
	}
	return snapshot.Manifest{ID: "0123456789abcdef", Timeline: 1, Index: 1, Time: time.Unix(1, 0).UTC(),
		Source: segments.SnapshotSource{Method: segments.MethodAPI}, ChunkSize: 1024, TotalSize: total, RootMode: 0o700, Files: files}
}

func TestRestoreRefusesHostileManifests(t *testing.T) {
	f := func(p string) segments.SnapshotFile {
		return segments.SnapshotFile{Path: p, Type: segments.TypeFile, Mode: 0o644}
	}
	d := func(p string) segments.SnapshotFile {
		return segments.SnapshotFile{Path: p, Type: segments.TypeDir, Mode: 0o755}
	}
	l := func(p, target string) segments.SnapshotFile {
		return segments.SnapshotFile{Path: p, Type: segments.TypeSymlink, Target: target}
	}
	cases := []struct {
		name  string
		files []segments.SnapshotFile
	}{
		{"dot dot", []segments.SnapshotFile{f("../x")}},
		{"absolute", []segments.SnapshotFile{f("/etc/x")}},
		{"climb in the middle", []segments.SnapshotFile{d("a"), f("a/../../x")}},
		{"symlink out then a file through it", []segments.SnapshotFile{l("s", "../../etc"), f("s/passwd")}},
		{"symlink to a dir then a file through it", []segments.SnapshotFile{d("d"), l("s", "d"), f("s/passwd")}},
		{"duplicate", []segments.SnapshotFile{f("x"), f("x")}},
		{"file then symlink at the same path", []segments.SnapshotFile{f("x"), l("x", "../../etc/passwd")}},
		{"absolute symlink", []segments.SnapshotFile{l("s", "/etc")}},
		{"symlink climbing through another", []segments.SnapshotFile{d("d"), l("d/l", ".."), l("s", "d/l/../..")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st := mem.New()
			m := hostile(t, st, c.files)
			sandbox := t.TempDir()
			parent := filepath.Join(sandbox, "out")
			mkdir(t, parent, 0o755)
			dataDir := filepath.Join(parent, "data")

			// Decoding refuses it.
			body, _ := json.Marshal(m)
			if _, err := segments.DecodeSnapshot(resealManifest(t, body)); !errors.Is(err, segments.ErrCorrupt) {
				t.Fatalf("decode accepted the manifest: %v", err)
			}
			// RestoreFiles validates before it writes anything.
			if err := snapshot.RestoreFiles(ctx, st, m, dataDir); !errors.Is(err, segments.ErrCorrupt) {
				t.Fatalf("RestoreFiles: %v, want ErrCorrupt", err)
			}
			onlyEntries(t, sandbox, "out")
			onlyEntries(t, parent)

			// Without validation, os.Root and O_EXCL still hold. Links may
			// be made (inside the temporary dir), but nothing is written
			// through them, and everything goes on error.
			err := snapshot.RestoreFilesUnchecked(ctx, st, m, dataDir)
			t.Logf("unchecked restore: %v", err)
			onlyEntries(t, sandbox, "out")
			if err == nil {
				// Only the symlink-only cases can succeed: the link is
				// inside dataDir, and nothing was written through it.
				for _, file := range m.Files {
					if file.Type == segments.TypeFile {
						t.Fatalf("unchecked restore of a manifest with files succeeded")
					}
				}
				os.RemoveAll(dataDir)
			}
			onlyEntries(t, parent)
		})
	}
}

func resealManifest(t *testing.T, body []byte) []byte {
	t.Helper()
	sum := segments.DigestOf(body)
	b, err := json.Marshal(map[string]any{"format": "walship.snapshot", "version": 1, "body": json.RawMessage(body), "sha256": sum.String()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cancelingStore cancels the restore's context on the n-th Get.
type cancelingStore struct {
	*mem.Store
	gets   atomic.Int32
	n      int32
	cancel context.CancelFunc
}

func (c *cancelingStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if c.gets.Add(1) == c.n {
		c.cancel()
	}
	return c.Store.Get(ctx, key, off, length)
}

func TestRestoreCanceledLeavesNothing(t *testing.T) {
	src := t.TempDir()
	for i := range 8 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), randBytes(uint64(i), 5000), 0o600)
	}
	st := mem.New()
	m, _, err := snapshot.Upload(context.Background(), st, snapshot.Source{Dir: src, Index: 1}, snapshot.Options{ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	parent := t.TempDir()
	err = snapshot.RestoreFiles(ctx, &cancelingStore{Store: st, n: 10, cancel: cancel}, m, filepath.Join(parent, "data"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	onlyEntries(t, parent)
}

func TestOptions(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte(strings.Repeat("compressible ", 1000)), 0o600)
	for _, c := range []struct {
		o     snapshot.Options
		codec segments.Codec
		msg   string
	}{
		{snapshot.Options{}, segments.CodecZstd, ""},
		{snapshot.Options{Compression: "none"}, segments.CodecNone, ""},
		{snapshot.Options{Compression: "lz4"}, 0, "unknown compression"},
		{snapshot.Options{ChunkSize: 100}, 0, "chunk size"},
		{snapshot.Options{ChunkSize: segments.MaxChunkSize + 1}, 0, "chunk size"},
	} {
		st := mem.New()
		m, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: src, Index: 1}, c.o)
		if c.msg != "" {
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%+v: err %v, want %q", c.o, err, c.msg)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := readAll(ctx, st, segments.ChunkKey(m.Files[0].Chunks[0]))
		if err != nil || segments.Codec(obj[10]) != c.codec {
			t.Errorf("%+v: stored codec %v (%v), want %v", c.o, segments.Codec(obj[10]), err, c.codec)
		}
	}
	if _, _, err := snapshot.Upload(ctx, mem.New(), snapshot.Source{Dir: filepath.Join(src, "f"), Index: 1}, snapshot.Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as source: %v", err)
	}
}
