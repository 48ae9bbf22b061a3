package pitr

import (
	"context"
	"fmt"

	"github.com/walship/walship/backends"
)

// VerifyOptions tune VerifyWith.
type VerifyOptions struct {
	// Progress, when set, is told the segments and chunks (the objects
	// Verify reads in full, nearly all of its work) and their bytes once
	// the store is listed, and each of them as it is checked, damaged or
	// not. Records (timelines, manifests, points) are small and not
	// counted.
	Progress Progress
}

// VerifyWith is Verify with options.
func VerifyWith(ctx context.Context, st backends.Store, o VerifyOptions) (*Report, error) {
	r, err := verify(ctx, st, progressOr(o.Progress))
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", st, err)
	}
	return r, nil
}

// readTotals are the objects and bytes Verify reads in full.
func readTotals(segs []SegmentInfo, chunks []chunkInfo) (objects, bytes int64) {
	for _, s := range segs {
		bytes += s.Size
	}
	for _, c := range chunks {
		bytes += c.size
	}
	return int64(len(segs) + len(chunks)), bytes
}
