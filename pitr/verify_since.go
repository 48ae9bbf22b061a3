package pitr

import (
	"context"
	"math"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// sinceSelection is what a verify with VerifyOptions.Since reads in full:
// the segments holding an entry stamped at or after Since (by the max time
// in their key) and the chunks of the snapshot manifests taken at or after
// it. Everything else is listed, taken as intact for the history and
// restore point checks, and counted in Report.NotRead: a quick check of
// what changed since the last full verify.
type sinceSelection struct {
	segs   bits // by position in the listing; nil: every one
	chunks bits
}

func (s sinceSelection) segment(i int) bool { return s.segs == nil || s.segs.has(i) }
func (s sinceSelection) chunk(i int) bool   { return s.chunks == nil || s.chunks.has(i) }

// selectSince picks what to read. Manifests are read here for their time
// (they are small, and verifyManifests reads and judges them again); one
// that cannot be read selects nothing, and verifyManifests reports it.
func (r *Report) selectSince(ctx context.Context, st backends.Store, since time.Time, segs segSeq, chunks []chunkInfo, snapKeys []string) (sinceSelection, error) {
	if since.IsZero() {
		return sinceSelection{}, nil
	}
	r.Since = since
	sel := sinceSelection{segs: newBits(segs.Len()), chunks: newBits(len(chunks))}
	ns := unixNano(since)
	for i := range segs.Len() {
		s := segs.At(i)
		if sel.segs.set(i, s.Name.MaxTime >= ns); !sel.segs.has(i) {
			r.NotRead++
			r.NotReadBytes += s.Size
		}
	}
	recent := map[segments.Digest]bool{}
	for _, key := range snapKeys {
		m, err := snapshot.Load(ctx, st, key)
		if err != nil {
			if _, ok := dataProblem(err); ok {
				continue
			}
			return sel, err
		}
		if m.Time.Before(since) {
			continue
		}
		for _, d := range m.ChunkRefs() {
			recent[d] = true
		}
	}
	for i, c := range chunks {
		if sel.chunks.set(i, recent[c.digest]); !sel.chunks.has(i) {
			r.NotRead++
			r.NotReadBytes += c.size
		}
	}
	return sel, nil
}

// readIntact is which segments were read and found intact: the ones the
// overlap check compares.
func readIntact(intact bits, sel sinceSelection) bits {
	if sel.segs == nil {
		return intact
	}
	return intact.and(sel.segs)
}

// unixNano is t in unix nanoseconds, clamped to what an int64 holds
// (years 1678 to 2262), where time.UnixNano is undefined.
func unixNano(t time.Time) int64 {
	switch {
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	}
	return t.UnixNano()
}
