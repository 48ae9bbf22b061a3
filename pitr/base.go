package pitr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// PlannedBase is the base snapshot a restore starts from: its files make
// the data directory, and the log holds the entries after Index.
type PlannedBase struct {
	Key        string    `json:"key"`
	ID         string    `json:"id"`
	Timeline   uint32    `json:"timeline"`
	Index      uint64    `json:"index"` // every entry <= Index is in the files
	Time       time.Time `json:"time"`  // when the snapshot was taken
	Files      int       `json:"files"` // regular files
	Bytes      int64     `json:"bytes"` // their total size
	Chunks     int       `json:"chunks"`
	FetchBytes int64     `json:"fetch_bytes"` // stored size of the chunks fetched (one fetch per reference)

	// Manifest is the verified manifest the restore writes from.
	Manifest snapshot.Manifest `json:"-"`
}

// EstimateBytesPerSec is the throughput Plan.Estimate assumes: a
// conservative figure for fetching from a remote object store, verifying
// and writing with fsync. Loopback MinIO on a small machine is ten times
// faster; a slow WAN link may be slower. It is a guess, not a measurement.
const EstimateBytesPerSec = 32 << 20

// estimateRequestCost is the assumed latency of one object fetch; fetches
// overlap four at a time.
const estimateRequestCost = 40 * time.Millisecond

func estimate(bytes int64, objects int) time.Duration {
	d := time.Duration(float64(bytes) / EstimateBytesPerSec * float64(time.Second))
	d += time.Duration(objects) * estimateRequestCost / 4
	return d.Round(time.Millisecond)
}

// manifestResult is a manifest read once per plan: the manifest, or why it
// cannot be used.
type manifestResult struct {
	m   snapshot.Manifest
	err error
}

// listBases lists the snapshots/ keys once per plan.
func (pl *planner) listBases(ctx context.Context) ([]snapshot.ManifestInfo, error) {
	if pl.basesRead {
		return pl.bases, nil
	}
	bases, err := snapshot.List(ctx, pl.st)
	if err != nil {
		return nil, err
	}
	pl.bases, pl.basesRead = bases, true
	return bases, nil
}

// chunkSizes tells the stored size of each chunk of m that the store
// lists. It lists chunks/ once per base considered and keeps m's own
// distinct chunks only (sorted, 40 bytes each), not every chunk of every
// base in the store. Verify fills pl.chunks with the intact chunks in
// advance; then that is asked instead.
func (pl *planner) chunkSizes(ctx context.Context, m snapshot.Manifest) (func(segments.Digest) (int64, bool), error) {
	if pl.chunks != nil {
		return func(d segments.Digest) (int64, bool) { size, ok := pl.chunks[d]; return size, ok }, nil
	}
	refs := m.ChunkRefs() // sorted, unique
	sizes := make([]int64, len(refs))
	for i := range sizes {
		sizes[i] = -1 // not listed
	}
	find := func(d segments.Digest) (int, bool) { return slices.BinarySearchFunc(refs, d, segments.Digest.Compare) }
	err := pl.st.List(ctx, segments.ChunksPrefix, "", func(oi backends.ObjectInfo) error {
		if d, err := segments.ParseChunkKey(oi.Key); err == nil {
			if i, ok := find(d); ok {
				sizes[i] = oi.Size
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", segments.ChunksPrefix, pl.st, err)
	}
	return func(d segments.Digest) (int64, bool) {
		if i, ok := find(d); ok && sizes[i] >= 0 {
			return sizes[i], true
		}
		return 0, false
	}, nil
}

// manifest reads and verifies a manifest once per plan. With several
// stores the first intact copy wins. A damaged or vanished manifest comes
// back in the result's err; a store failure is the returned error.
func (pl *planner) manifest(ctx context.Context, key string) (manifestResult, error) {
	if r, ok := pl.manifests[key]; ok {
		return r, nil
	}
	m, err := loadManifest(ctx, pl.st, key, pl.ids)
	if err != nil {
		if _, data := dataProblem(err); !data {
			return manifestResult{}, err
		}
	}
	r := manifestResult{m: m, err: err}
	pl.manifests[key] = r
	return r, nil
}

// loadManifest reads a manifest (snapshot.LoadWith: envelope checksum,
// format rules, key) from the first replica holding an intact copy that
// ids open (a plain copy, or an encrypted one sealed to them). When every
// intact copy is encrypted to others, the first one's clear part comes
// back, enough to plan (a restore from it then fails with
// crypt.ErrNoIdentity, before writing).
func loadManifest(ctx context.Context, st backends.Store, key string, ids []*crypt.Identity) (snapshot.Manifest, error) {
	var m snapshot.Manifest
	var err error
	var sealed *snapshot.Manifest
	for _, r := range multi.ReplicasOf(st) {
		m, err = snapshot.LoadWith(ctx, r.Store, key, ids)
		if errors.Is(err, crypt.ErrNoIdentity) {
			m, err = snapshot.Load(ctx, r.Store, key) // its clear part
		}
		if err == nil && !m.Opened() {
			if sealed == nil {
				c := m
				sealed = &c
			}
			continue
		}
		if err == nil || ctx.Err() != nil {
			return m, err
		}
	}
	if sealed != nil {
		return *sealed, nil
	}
	return m, err
}

// candidate is a snapshot on the target's history.
type candidate struct {
	info snapshot.ManifestInfo
	pos  int // position of its timeline in the history (root 0)
}

// onHistory returns the snapshots whose position is on hist (root first,
// the target's timeline last) at or before entry limit of the target's
// timeline, newest first. A snapshot on timeline X with index I is on the
// history if X is in it and I is at most the last entry of X that the
// history shares: limit for the target's own timeline, for an ancestor the
// lowest fork index on the way from it to the target (and limit).
func onHistory(bases []snapshot.ManifestInfo, hist []segments.Timeline, limit uint64) []candidate {
	lim := make(map[uint32]uint64, len(hist))
	pos := make(map[uint32]int, len(hist))
	l := limit
	for i := len(hist) - 1; i >= 0; i-- {
		lim[hist[i].ID], pos[hist[i].ID] = l, i
		l = min(l, hist[i].ForkIndex) // what the parent shares with this timeline
	}
	var out []candidate
	for _, b := range bases {
		if l, ok := lim[b.Timeline]; ok && b.Index <= l {
			out = append(out, candidate{info: b, pos: pos[b.Timeline]})
		}
	}
	slices.SortFunc(out, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.info.Index, a.info.Index), cmp.Compare(b.pos, a.pos), strings.Compare(b.info.Key, a.info.Key))
	})
	return out
}

// chooseBase picks the newest usable base snapshot on hist at or before n,
// and the spans of entries the log needs after it. A base is usable when
// every entry after it up to n is stored (no lost entries, no segment
// hole), its manifest reads and verifies, and every chunk it names is in
// the store's listing. Bases passed over are noted. nil: no base.
func (pl *planner) chooseBase(ctx context.Context, hist []segments.Timeline, n uint64) (*PlannedBase, []Span, error) {
	bases, err := pl.listBases(ctx)
	if err != nil || len(bases) == 0 {
		return nil, nil, err
	}
	cands := onHistory(bases, hist, n)
	if len(cands) == 0 {
		pl.note(fmt.Sprintf("no base snapshot on timeline %d's history at or before entry %d: the log is replayed from the history's start", hist[len(hist)-1].ID, n))
		return nil, nil, nil
	}
	for _, c := range cands {
		spans, why, err := pl.need(ctx, hist, c.info.Index, n)
		if err != nil {
			return nil, nil, err
		}
		if why != "" {
			// Every older base needs these entries too.
			pl.rejectBase(c.info, why)
			return nil, nil, nil
		}
		b, why, err := pl.usableBase(ctx, c.info)
		if err != nil {
			return nil, nil, err
		}
		if why != "" {
			pl.rejectBase(c.info, why)
			continue
		}
		return b, spans, nil
	}
	return nil, nil, nil
}

func (pl *planner) rejectBase(info snapshot.ManifestInfo, why string) {
	s := fmt.Sprintf("base snapshot %s (timeline %d, index %d) not used: %s", info.Key, info.Timeline, info.Index, why)
	pl.rejected = append(pl.rejected, s)
	pl.note(s)
}

// need returns the spans holding entries from+1..n of the target's history,
// or why they cannot all be had from the store ("" if they can).
func (pl *planner) need(ctx context.Context, hist []segments.Timeline, from, n uint64) ([]Span, string, error) {
	if from >= n {
		return nil, "", nil
	}
	tl := hist[len(hist)-1].ID
	all, _, err := pl.tls.resolve(tl, n, true)
	if err != nil {
		return nil, fmt.Sprintf("the target itself is not stored: %v", err), nil
	}
	var spans []Span
	next := from + 1
	for _, sp := range all {
		if sp.To < next {
			continue
		}
		if sp.From > next {
			return nil, fmt.Sprintf("it needs entries %d..%d after it, which were never shipped or were lost before shipping", next, sp.From-1), nil
		}
		spans = append(spans, Span{Timeline: sp.Timeline, From: next, To: sp.To})
		next = sp.To + 1
	}
	if next <= n {
		return nil, fmt.Sprintf("entries %d..%d after it are not on the history", next, n), nil
	}
	for _, sp := range spans {
		segs, err := pl.segments(ctx, sp.Timeline)
		if err != nil {
			return nil, "", err
		}
		holes, err := pl.cover(sp.Timeline, segs, sp.From, sp.To, nil)
		if err != nil {
			return nil, "", err
		}
		if len(holes) > 0 {
			h := holes[0]
			return nil, fmt.Sprintf("it needs entries %d..%d after it, but no stored segment of timeline %d holds entries %d..%d", from+1, n, h.Timeline, h.From, h.To), nil
		}
	}
	return spans, "", nil
}

// usableBase reads a candidate's manifest and checks that the store lists
// every chunk it names; why says what is wrong ("" if nothing).
func (pl *planner) usableBase(ctx context.Context, info snapshot.ManifestInfo) (*PlannedBase, string, error) {
	r, err := pl.manifest(ctx, info.Key)
	if err != nil {
		return nil, "", err
	}
	if r.err != nil {
		return nil, fmt.Sprintf("its manifest cannot be read: %v (walship verify reports it)", r.err), nil
	}
	sizeOf, err := pl.chunkSizes(ctx, r.m)
	if err != nil {
		return nil, "", err
	}
	b := &PlannedBase{Key: info.Key, ID: r.m.ID, Timeline: r.m.Timeline, Index: r.m.Index, Time: r.m.Time, Bytes: r.m.TotalSize, Manifest: r.m}
	var missing []string
	eachChunkRef(r.m, func(d segments.Digest, path string) {
		size, ok := sizeOf(d)
		if !ok {
			missing = append(missing, chunkRef(d, path))
			return
		}
		b.Chunks++
		b.FetchBytes += size
	})
	for _, f := range r.m.Files {
		if f.Type == segments.TypeFile {
			b.Files++
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Sprintf("the store lacks %d of its chunks, e.g. %s (walship verify reports them)", len(missing), strings.Join(missing[:min(len(missing), 3)], ", ")), nil
	}
	return b, "", nil
}

// withBaseHint adds to a planning error for entries the store cannot give
// (missing segments, lost entries) what base snapshots could do about it:
// one after the problem (at index >= after) lets a restore skip it.
func (pl *planner) withBaseHint(ctx context.Context, err error, hist []segments.Timeline, n, after uint64) error {
	bases, lerr := pl.listBases(ctx)
	if lerr != nil {
		return err
	}
	var later []candidate
	for _, c := range onHistory(bases, hist, ^uint64(0)) {
		if c.info.Index >= after {
			later = append(later, c)
		}
	}
	if len(later) == 0 {
		return fmt.Errorf("%w; no base snapshot on this history follows them (a base snapshot taken after them lets a restore skip them: walship snapshot, walship list STORE snapshots)", err)
	}
	c := later[len(later)-1] // the earliest after the problem
	desc := fmt.Sprintf("base snapshot %s (timeline %d, index %d)", c.info.Key, c.info.Timeline, c.info.Index)
	switch {
	case pl.t.NoBase && c.info.Index <= n:
		return fmt.Errorf("%w; %s follows them: leave out --no-base to restore from it", err, desc)
	case c.info.Index > n:
		return fmt.Errorf("%w; %s follows them: a target at or after it is restorable from it (%s--index >= %d)", err, desc, pl.timelineFlag(), c.info.Index)
	}
	if len(pl.rejected) > 0 {
		return fmt.Errorf("%w; %s", err, strings.Join(pl.rejected, "; "))
	}
	return fmt.Errorf("%w; %s follows them but cannot be used", err, desc)
}

// eachChunkRef calls fn for every chunk reference of m with the path of the
// file holding it: each file's chunks in order, or for an encrypted
// manifest not opened its clear list, path "".
func eachChunkRef(m snapshot.Manifest, fn func(d segments.Digest, path string)) {
	if !m.Opened() {
		for _, d := range m.ChunkRefs() {
			fn(d, "")
		}
		return
	}
	for _, f := range m.Files {
		for _, d := range f.Chunks {
			fn(d, f.Path)
		}
	}
}

// chunkRef names a chunk for a message, with its file when known.
func chunkRef(d segments.Digest, path string) string {
	if path == "" {
		return segments.ChunkKey(d)
	}
	return fmt.Sprintf("%s (of %s)", segments.ChunkKey(d), path)
}
