package snapshot

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
)

func digest(i int) segments.Digest { return segments.DigestOf([]byte(fmt.Sprint("chunk", i))) }

// TestChunkIndex: an upload's index holds the chunk objects listed, not
// other keys under chunks/ nor objects too small to be chunks, and the
// chunks the upload adds; missingChunks names the refs not listed.
func TestChunkIndex(t *testing.T) {
	ctx := context.Background()
	st := mem.New()
	body := strings.Repeat("x", segments.ChunkHeaderSizeV1+1)
	put := func(key, b string) {
		t.Helper()
		if err := st.Put(ctx, key, strings.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		put(segments.ChunkKey(digest(i)), body)
	}
	put(segments.ChunkKey(digest(20)), "tiny")           // too small to be a chunk
	put(segments.ChunksPrefix+"zz/not-a-digest", body)   // not a chunk key
	put(segments.ChunksPrefix+digest(21).String(), body) // not in its two-digit directory
	c, err := listChunks(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 23 {
		if got, want := c.has(digest(i)), i < 20; got != want {
			t.Errorf("chunk %d: has %v, want %v", i, got, want)
		}
	}
	c.add(digest(22))
	if !c.has(digest(22)) || c.has(digest(23)) {
		t.Error("an added chunk is not known, or another one is")
	}
	refs := []segments.Digest{digest(3), digest(20), digest(21), digest(22), digest(7)}
	slices.SortFunc(refs, segments.Digest.Compare)
	missing, err := missingChunks(ctx, st, refs)
	if err != nil {
		t.Fatal(err)
	}
	want := []segments.Digest{digest(20), digest(21), digest(22)}
	slices.SortFunc(want, segments.Digest.Compare)
	if !slices.Equal(missing, want) {
		t.Errorf("missing %v, want %v", missing, want)
	}
}

// manyChunks lists n chunk objects without holding them.
type manyChunks struct {
	backends.Store
	n int
}

func (m manyChunks) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	for i := range m.n {
		if err := fn(backends.ObjectInfo{Key: segments.ChunkKey(digest(i)), Size: 1 << 20}); err != nil {
			return err
		}
	}
	return nil
}

// TestChunkIndexMemory: the index of a store's chunks takes about the
// digests' own 32 bytes each (a map of them took 70), and checking a
// manifest's chunks keeps nothing per chunk of the store.
func TestChunkIndexMemory(t *testing.T) {
	const n = 100_000
	st := manyChunks{Store: mem.New(), n: n}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	c, err := listChunks(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	per := float64(heap()-before) / n
	if len(c.listed) != n || !c.has(digest(n/2)) {
		t.Fatalf("index of %d chunks", len(c.listed))
	}
	if per > 48 {
		t.Errorf("the index takes %.1f bytes per listed chunk, want at most 48", per)
	}
	runtime.KeepAlive(c)
	t.Logf("%.1f bytes per listed chunk", per)

	refs := []segments.Digest{digest(1), digest(n + 1)}
	slices.SortFunc(refs, segments.Digest.Compare)
	missing, err := missingChunks(context.Background(), st, refs)
	if err != nil || len(missing) != 1 || missing[0] != digest(n+1) {
		t.Fatalf("missing %v, %v", missing, err)
	}
}
