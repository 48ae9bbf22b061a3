package pitr

import (
	"context"
	"fmt"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
)

// VerifyOptions tune VerifyWith.
type VerifyOptions struct {
	// Progress, when set, is told the segments and chunks (the objects
	// Verify reads in full, nearly all of its work) and their bytes once
	// the store is listed, and each of them as it is checked, damaged or
	// not. Records (timelines, manifests, points) are small and not
	// counted.
	Progress Progress
	// Since, when set, reads in full only the segments holding an entry
	// stamped at or after it and the chunks of the snapshots taken at or
	// after it; older ones are listed and taken as intact (see
	// sinceSelection). Zero: everything is read.
	Since time.Time
	// Identities open encrypted segments, which are then checked entry by
	// entry like plain ones. An encrypted segment none of them opens is
	// checked as stored: header CRC, size and the SHA-256 of its ciphertext.
	Identities []*crypt.Identity
}

// VerifyWith is Verify with options.
func VerifyWith(ctx context.Context, st backends.Store, o VerifyOptions) (*Report, error) {
	r, err := verify(ctx, st, progressOr(o.Progress), o.Since, o.Identities)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", st, err)
	}
	return r, nil
}

// readTotals are the objects and bytes Verify reads in full.
func readTotals(segs segSeq, chunks []chunkInfo, sel sinceSelection) (objects, bytes int64) {
	for i := range segs.Len() {
		s := segs.At(i)
		if sel.segment(i) {
			objects++
			bytes += s.Size
		}
	}
	for i, c := range chunks {
		if sel.chunk(i) {
			objects++
			bytes += c.size
		}
	}
	return objects, bytes
}
