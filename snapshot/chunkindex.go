package snapshot

import (
	"context"
	"fmt"
	"slices"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// chunkIndex is what an upload knows the store holds: the chunks one
// listing of chunks/ found, as sorted digests (32 bytes each; a map of
// them took 70 bytes each, measured), and the chunks this upload stores
// or is storing. A store of many bases holds many chunks; an agent
// uploading a base keeps them all in this index while it reads the files.
type chunkIndex struct {
	listed []segments.Digest
	added  map[segments.Digest]struct{}
}

// has reports whether the store holds d, or this upload stores it.
func (c *chunkIndex) has(d segments.Digest) bool {
	if _, ok := slices.BinarySearchFunc(c.listed, d, segments.Digest.Compare); ok {
		return true
	}
	_, ok := c.added[d]
	return ok
}

// add records that this upload stores d.
func (c *chunkIndex) add(d segments.Digest) { c.added[d] = struct{}{} }

// listChunks learns which chunks the store holds with one listing. Keys
// that are not chunk keys, and objects too small to be chunks, are left out
// (their chunks get stored again under the proper name, or fail with
// ErrExists and count as stored).
func listChunks(ctx context.Context, st backends.Store) (*chunkIndex, error) {
	c := &chunkIndex{added: map[segments.Digest]struct{}{}}
	err := eachListedChunk(ctx, st, func(d segments.Digest) { c.listed = append(c.listed, d) })
	if err != nil {
		return nil, err
	}
	// A listing comes in key order, which is the digests' order; a store
	// that lists otherwise still gets a sorted index.
	if !slices.IsSortedFunc(c.listed, segments.Digest.Compare) {
		slices.SortFunc(c.listed, segments.Digest.Compare)
	}
	c.listed = slices.Compact(c.listed)
	return c, nil
}

// eachListedChunk lists chunks/ once and hands fn the digest of each chunk
// object in it, leaving out other keys and objects too small to be chunks.
func eachListedChunk(ctx context.Context, st backends.Store, fn func(segments.Digest)) error {
	err := st.List(ctx, segments.ChunksPrefix, "", func(oi backends.ObjectInfo) error {
		if d, err := segments.ParseChunkKey(oi.Key); err == nil && oi.Size > segments.ChunkHeaderSizeV1 {
			fn(d)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s in %s: %w", segments.ChunksPrefix, st, err)
	}
	return nil
}

// missingChunks lists chunks/ and returns the chunks of refs (sorted and
// unique, as Manifest.ChunkRefs gives them) it does not list, keeping a
// bool for each of refs, not the store's chunks.
func missingChunks(ctx context.Context, st backends.Store, refs []segments.Digest) ([]segments.Digest, error) {
	want := refs
	if !slices.IsSortedFunc(want, segments.Digest.Compare) {
		want = slices.SortedFunc(slices.Values(refs), segments.Digest.Compare)
	}
	want = slices.Compact(want)
	found := make([]bool, len(want))
	err := eachListedChunk(ctx, st, func(d segments.Digest) {
		if i, ok := slices.BinarySearchFunc(want, d, segments.Digest.Compare); ok {
			found[i] = true
		}
	})
	if err != nil {
		return nil, err
	}
	var missing []segments.Digest
	for i, d := range want {
		if !found[i] {
			missing = append(missing, d)
		}
	}
	return missing, nil
}
