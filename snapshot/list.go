package snapshot

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// maxManifestSize bounds how much of a manifest object Load reads (about a
// million files).
const maxManifestSize = 256 << 20

// ManifestInfo is a stored snapshot as its key names it; nothing in it was
// read from the object.
type ManifestInfo struct {
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	Timeline uint32 `json:"timeline"`
	Index    uint64 `json:"index"`
	ID       string `json:"id"`
}

// List returns the snapshots in st by (timeline, index, id), from keys
// alone. Keys under snapshots/ that are not manifest keys are skipped, never
// read.
func List(ctx context.Context, st backends.Store) ([]ManifestInfo, error) {
	var out []ManifestInfo
	err := st.List(ctx, segments.SnapshotsPrefix, "", func(oi backends.ObjectInfo) error {
		n, err := segments.ParseSnapshotKey(oi.Key)
		if err != nil {
			return nil
		}
		out = append(out, ManifestInfo{Key: oi.Key, Size: oi.Size, Timeline: n.Timeline, Index: n.Index, ID: n.ID})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", segments.SnapshotsPrefix, st, err)
	}
	slices.SortFunc(out, func(a, b ManifestInfo) int {
		return cmp.Or(cmp.Compare(a.Timeline, b.Timeline), cmp.Compare(a.Index, b.Index), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Load reads, verifies (envelope checksum, format rules) and returns the
// manifest at key, which must name the very snapshot the manifest describes.
// An encrypted manifest gives its clear fields (see LoadWith).
func Load(ctx context.Context, st backends.Store, key string) (Manifest, error) {
	return LoadWith(ctx, st, key, nil)
}

// LoadWith is Load that opens an encrypted manifest with ids when they are
// given (none for its recipients: an error matching crypt.ErrNoIdentity).
func LoadWith(ctx context.Context, st backends.Store, key string, ids []*crypt.Identity) (Manifest, error) {
	name, err := segments.ParseSnapshotKey(key)
	if err != nil {
		return Manifest{}, fmt.Errorf("load snapshot: %w", err)
	}
	rc, err := st.Get(ctx, key, 0, -1)
	if err != nil {
		return Manifest{}, fmt.Errorf("load snapshot %s: %w", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	rc.Close()
	if err != nil {
		return Manifest{}, fmt.Errorf("load snapshot %s: %w", key, err)
	}
	if len(b) > maxManifestSize {
		return Manifest{}, fmt.Errorf("load snapshot %s: %w: larger than %d bytes", key, ErrCorrupt, maxManifestSize)
	}
	m, _, err := segments.DecodeSnapshotWith(b, ids)
	if err != nil {
		return Manifest{}, fmt.Errorf("load snapshot %s: %w", key, err)
	}
	if m.Name() != name {
		return Manifest{}, fmt.Errorf("load snapshot %s: %w: the manifest describes %s", key, ErrCorrupt, m.Key())
	}
	return m, nil
}
