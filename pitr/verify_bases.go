package pitr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
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
func (r *Report) verifyChunks(ctx context.Context, st backends.Store, chunks []chunkInfo, sel sinceSelection, prog Progress, co segments.ChunkOptions) (map[segments.Digest]int64, error) {
	good := make(map[segments.Digest]int64, len(chunks))
	var sealed atomic.Int64
	defer func() { r.SealedChunks += int(sealed.Load()) }()
	err := r.checkAll(ctx, len(chunks), func(i int) string { return chunks[i].key }, func(i int) {
		if sel.chunk(i) {
			prog.Add(1, chunks[i].size)
		}
	},
		func(ctx context.Context, i int) (func(), error) {
			if !sel.chunk(i) { // listed, not read (--since)
				return func() { good[chunks[i].digest] = chunks[i].size }, nil
			}
			opened, err := verifyChunk(ctx, st, chunks[i], co)
			if err != nil {
				return nil, err
			}
			if !opened {
				sealed.Add(1)
			}
			return func() { good[chunks[i].digest] = chunks[i].size }, nil
		})
	if err != nil {
		return nil, err
	}
	return good, nil
}

// verifyChunk reads one chunk: opened and named with co when it can
// (opened true), else checked as stored (header, size, SHA-256 of the
// stored bytes): an encrypted chunk without an identity for it, read again.
func verifyChunk(ctx context.Context, st backends.Store, c chunkInfo, co segments.ChunkOptions) (opened bool, err error) {
	info, err := readChunkObject(ctx, st, c, func(r io.Reader) (segments.ChunkInfo, error) {
		if len(co.Identities) == 0 {
			return segments.CheckChunk(r, c.digest)
		}
		info, _, err := segments.ReadChunkWith(r, c.digest, co)
		return info, err
	})
	if errors.Is(err, crypt.ErrNoIdentity) {
		info, err = readChunkObject(ctx, st, c, func(r io.Reader) (segments.ChunkInfo, error) { return segments.CheckChunk(r, c.digest) })
	}
	return info.Opened, err
}

func readChunkObject(ctx context.Context, st backends.Store, c chunkInfo, read func(io.Reader) (segments.ChunkInfo, error)) (segments.ChunkInfo, error) {
	rc, err := st.Get(ctx, c.key, 0, -1)
	if err != nil {
		return segments.ChunkInfo{}, fmt.Errorf("read %s: %w", c.key, err)
	}
	defer rc.Close()
	cr := &countReader{r: &ctxReader{ctx: ctx, r: rc}}
	info, err := read(bufio.NewReaderSize(cr, 256<<10))
	if err != nil {
		return info, readProblem(cr, c.key, err)
	}
	if cr.n != c.size {
		return info, fmt.Errorf("%w: %d bytes read, the listing says %d", segments.ErrCorrupt, cr.n, c.size)
	}
	return info, nil
}

// verifyManifests reads every manifest (snapshot.Load: envelope, format
// rules, key) and checks that every chunk it names is stored and intact.
// It returns the usable ones (for planning restores to points) and every
// manifest read.
func (r *Report) verifyManifests(ctx context.Context, st backends.Store, keys []string, chunks []chunkInfo, good map[segments.Digest]int64, kr keyRecords) ([]snapshot.ManifestInfo, map[string]manifestResult, error) {
	listed := make(map[segments.Digest]bool, len(chunks))
	for _, c := range chunks {
		listed[c.digest] = true
	}
	var usable []snapshot.ManifestInfo
	read := map[string]manifestResult{}
	for _, key := range keys {
		m, err := loadManifest(ctx, st, key, kr.ids)
		if err != nil {
			problem, ok := dataProblem(err)
			if !ok {
				return nil, nil, err
			}
			r.damage(key, problem)
			continue
		}
		if !m.Opened() {
			r.SealedSnapshots++
		}
		if p := kr.problem(m); p != "" {
			r.damage(key, p)
		}
		var missing, damaged []string
		seen := map[segments.Digest]bool{}
		eachChunkRef(m, func(d segments.Digest, path string) {
			if seen[d] {
				return
			}
			seen[d] = true
			switch {
			case !listed[d]:
				missing = append(missing, chunkRef(d, path))
			case !hasChunk(good, d):
				damaged = append(damaged, chunkRef(d, path))
			}
		})
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
