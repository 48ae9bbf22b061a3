package pitr

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// chunkInfo is a listed chunk object.
type chunkInfo struct {
	key    string
	size   int64
	digest segments.Digest
}

// verifyChunks reads every chunk (segments.ReadChunk against the digest its
// key names), verifyParallel at a time, and returns the intact ones with
// their stored sizes. Damage goes into the report.
func (r *Report) verifyChunks(ctx context.Context, st backends.Store, chunks []chunkInfo, sel sinceSelection, prog Progress) (map[segments.Digest]int64, error) {
	good := make(map[segments.Digest]int64, len(chunks))
	err := r.checkAll(ctx, len(chunks), func(i int) string { return chunks[i].key }, func(i int) {
		if sel.chunk(i) {
			prog.Add(1, chunks[i].size)
		}
	},
		func(ctx context.Context, i int) (func(), error) {
			if !sel.chunk(i) { // listed, not read (--since)
				return func() { good[chunks[i].digest] = chunks[i].size }, nil
			}
			if err := verifyChunk(ctx, st, chunks[i]); err != nil {
				return nil, err
			}
			return func() { good[chunks[i].digest] = chunks[i].size }, nil
		})
	if err != nil {
		return nil, err
	}
	return good, nil
}

func verifyChunk(ctx context.Context, st backends.Store, c chunkInfo) error {
	rc, err := st.Get(ctx, c.key, 0, -1)
	if err != nil {
		return fmt.Errorf("read %s: %w", c.key, err)
	}
	defer rc.Close()
	cr := &countReader{r: &ctxReader{ctx: ctx, r: rc}}
	if _, err := segments.ReadChunk(bufio.NewReaderSize(cr, 256<<10), c.digest); err != nil {
		return readProblem(cr, c.key, err)
	}
	if cr.n != c.size {
		return fmt.Errorf("%w: %d bytes read, the listing says %d", segments.ErrCorrupt, cr.n, c.size)
	}
	return nil
}

// verifyManifests reads every manifest (snapshot.Load: envelope, format
// rules, key) and checks that every chunk it names is stored and intact.
// It returns the usable ones (for planning restores to points) and every
// manifest read.
func (r *Report) verifyManifests(ctx context.Context, st backends.Store, keys []string, chunks []chunkInfo, good map[segments.Digest]int64) ([]snapshot.ManifestInfo, map[string]manifestResult, error) {
	listed := make(map[segments.Digest]bool, len(chunks))
	for _, c := range chunks {
		listed[c.digest] = true
	}
	var usable []snapshot.ManifestInfo
	read := map[string]manifestResult{}
	for _, key := range keys {
		m, err := snapshot.Load(ctx, st, key)
		if err != nil {
			problem, ok := dataProblem(err)
			if !ok {
				return nil, nil, err
			}
			r.damage(key, problem)
			continue
		}
		var missing, damaged []string
		seen := map[segments.Digest]bool{}
		for _, f := range m.Files {
			for _, d := range f.Chunks {
				if seen[d] {
					continue
				}
				seen[d] = true
				switch {
				case !listed[d]:
					missing = append(missing, fmt.Sprintf("%s (of %s)", segments.ChunkKey(d), f.Path))
				case !hasChunk(good, d):
					damaged = append(damaged, fmt.Sprintf("%s (of %s)", segments.ChunkKey(d), f.Path))
				}
			}
		}
		if len(missing) > 0 {
			r.damage(key, fmt.Sprintf("refers to %d chunk(s) the store does not hold: %s; this base snapshot cannot be restored", len(missing), examples(missing)))
		}
		if len(damaged) > 0 {
			r.damage(key, fmt.Sprintf("refers to %d damaged chunk(s): %s; this base snapshot cannot be restored", len(damaged), examples(damaged)))
		}
		if len(missing) == 0 && len(damaged) == 0 {
			n := m.Name()
			usable = append(usable, snapshot.ManifestInfo{Key: key, Timeline: n.Timeline, Index: n.Index, ID: n.ID})
			read[key] = manifestResult{m: m}
		}
	}
	return usable, read, nil
}

func hasChunk(m map[segments.Digest]int64, d segments.Digest) bool {
	_, ok := m[d]
	return ok
}

// examples shows up to 3 items of a list.
func examples(items []string) string {
	s := strings.Join(items[:min(len(items), 3)], ", ")
	if len(items) > 3 {
		s += ", ..."
	}
	return s
}
