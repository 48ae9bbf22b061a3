package pitr

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// cover picks, from one timeline's segments sorted by first index, the ones
// that hold entries from..to in order, handing each to use (nil: none is
// wanted), and returns the runs of entries that no segment holds. Where
// segments overlap it takes, at each point, the segment that reaches
// furthest; the entries of a picked segment that an earlier one already
// supplied are duplicates (PlannedSegment.From is past them). When use
// returns false the walk stops there: the holes are those before it.
func cover(tl uint32, segs segSeq, from, to uint64, use func(PlannedSegment) bool) (holes []Span) {
	next := from
	i, n := 0, segs.Len()
	for next <= to {
		best := -1
		var bestLast uint64
		for ; i < n; i++ {
			s := segs.At(i)
			if s.Name.First > next {
				break
			}
			if s.Name.Last >= next && (best < 0 || s.Name.Last > bestLast) {
				best, bestLast = i, s.Name.Last
			}
		}
		if best < 0 {
			end := to
			if i < n {
				end = min(segs.At(i).Name.First-1, to)
			}
			holes = append(holes, Span{Timeline: tl, From: next, To: end})
			if end == math.MaxUint64 {
				break
			}
			next = end + 1
			continue
		}
		s := segs.At(best)
		end := min(s.Name.Last, to)
		if use != nil && !use(PlannedSegment{Name: s.Name, Size: s.Size, Timeline: s.Name.Timeline, From: next, To: end}) {
			break
		}
		if end == math.MaxUint64 {
			break
		}
		next = end + 1
	}
	return holes
}

// ErrConflict: two stored segments of one timeline hold different entries
// at the same index. Two agents shipping different logs to one prefix
// leave this; a restore cannot tell which log is the right one.
var ErrConflict = errors.New("overlapping segments disagree")

// Conflict names two segments of one timeline that overlap and disagree,
// and the first index where they do.
type Conflict struct {
	Timeline uint32 `json:"timeline"`
	A        string `json:"a"`
	B        string `json:"b"`
	Index    uint64 `json:"index"` // first index whose entries differ
}

func (c Conflict) String() string {
	return fmt.Sprintf("timeline %d: segments %s and %s overlap but disagree: entry %d differs (the first that does)", c.Timeline, c.A, c.B, c.Index)
}

// overlap is a pair of segments (positions in a timeline's sorted list)
// that both hold entries from..to.
type overlap struct {
	a, b     int
	from, to uint64
}

// overlaps returns the pairs of segs (sorted by first index) that hold
// the same entries inside from..to, with the range they share there.
func overlaps(segs segSeq, from, to uint64) []overlap {
	var out []overlap
	type reach struct {
		i    int
		last uint64
	}
	var active []reach // earlier segments that may still reach later ones
	for j := range segs.Len() {
		s := segs.At(j)
		keep := active[:0]
		for _, a := range active {
			if a.last >= s.Name.First {
				keep = append(keep, a)
			}
		}
		active = keep
		for _, a := range active {
			lo, hi := max(s.Name.First, from), min(a.last, s.Name.Last, to)
			if lo <= hi {
				out = append(out, overlap{a: a.i, b: j, from: lo, to: hi})
			}
		}
		active = append(active, reach{j, s.Name.Last})
	}
	return out
}

// fingerprint stands for one entry's data: its length and a 64-bit hash.
type fingerprint struct {
	ok   bool
	n    int
	hash uint64
}

// compareOverlaps reads every segment of tl that shares entries inside
// from..to with another one and compares those entries, data only (an
// agent that re-seals after a crash writes the same data with newer
// observed times). It returns one Conflict per disagreeing pair, ordered
// by index. Identical overlaps cost a read and nothing else; without
// overlaps nothing is read. A segment that fails its checks is an error
// wrapping ErrCorrupt; store failures come back as they are.
func compareOverlaps(ctx context.Context, st backends.Store, tl uint32, segs segSeq, from, to uint64, ids []*crypt.Identity) ([]Conflict, error) {
	pairs := overlaps(segs, from, to)
	if err := segs.Err(); err != nil || len(pairs) == 0 {
		return nil, err
	}
	type want struct{ lo, hi uint64 }
	need := map[int]*want{}
	for _, p := range pairs {
		for _, i := range []int{p.a, p.b} {
			if w, ok := need[i]; ok {
				w.lo, w.hi = min(w.lo, p.from), max(w.hi, p.to)
			} else {
				need[i] = &want{p.from, p.to}
			}
		}
	}
	seed := maphash.MakeSeed()
	fps := make(map[int][]fingerprint, len(need))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyParallel)
	for i, w := range need {
		g.Go(func() error {
			fp := make([]fingerprint, w.hi-w.lo+1)
			err := readEntries(gctx, st, segs.At(i), ids, func(e segments.Entry) {
				if e.Index >= w.lo && e.Index <= w.hi {
					fp[e.Index-w.lo] = fingerprint{ok: true, n: len(e.Data), hash: maphash.Bytes(seed, e.Data)}
				}
			})
			if err != nil {
				return err
			}
			mu.Lock()
			fps[i] = fp
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []Conflict
	for _, p := range pairs {
		fa, fb := fps[p.a][p.from-need[p.a].lo:], fps[p.b][p.from-need[p.b].lo:]
		for k := uint64(0); k <= p.to-p.from; k++ {
			if fa[k] != fb[k] {
				out = append(out, Conflict{Timeline: tl, A: segs.At(p.a).Key(), B: segs.At(p.b).Key(), Index: p.from + k})
				break
			}
		}
	}
	slices.SortFunc(out, func(x, y Conflict) int {
		return cmp.Or(cmp.Compare(x.Index, y.Index), cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B))
	})
	return out, nil
}

// readEntries decodes a whole segment, checking it as Verify does, and
// hands each entry to fn.
func readEntries(ctx context.Context, st backends.Store, s SegmentInfo, ids []*crypt.Identity, fn func(segments.Entry)) error {
	rc, ps, err := getSegment(ctx, st, PlannedSegment{Name: s.Name, Size: s.Size}, 0, -1)
	if err != nil {
		return err
	}
	s = SegmentInfo{Name: ps.Name, Size: ps.Size}
	defer rc.Close()
	cr := &countReader{r: &ctxReader{ctx: ctx, r: rc}}
	rd, err := segments.NewReaderWith(bufio.NewReaderSize(cr, segments.ReadBuffer(s.Size)), segments.ReadOptions{Identities: ids})
	if err != nil {
		return fmt.Errorf("segment %s: %w", s.Key(), readProblem(cr, s.Key(), err))
	}
	defer rd.Close()
	if err := checkName(s.Key(), s.Name, rd.Header()); err != nil {
		return err
	}
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", s.Key(), readProblem(cr, s.Key(), err))
		}
		fn(e)
	}
}

// conflictError is the restore's refusal for a disagreeing overlap. It
// matches ErrConflict and, as Execute's own check of overlapping planned
// segments always did, ErrCorrupt.
func conflictError(c Conflict) error {
	return conflictErr{fmt.Sprintf("%v: %s; walship cannot tell which one holds the right log (two agents shipped different logs to this prefix?), "+
		"so it refuses to guess: remove the wrong agent's segments or restore from another store; walship verify lists every conflict", ErrConflict, c)}
}

type conflictErr struct{ msg string }

func (e conflictErr) Error() string   { return e.msg }
func (e conflictErr) Unwrap() []error { return []error{ErrConflict, ErrCorrupt} }

// checkOverlaps compares, timeline by timeline, the entries intact
// segments share (compareOverlaps). A segment that changed since it was
// verified is damage; a store failure stops the walk.
func (r *Report) checkOverlaps(ctx context.Context, st backends.Store, segs segSeq, intact bits, ids []*crypt.Identity) error {
	// Generations of one segment are copies a migration checked before
	// deleting the source: compare the newest with the others' overlaps.
	byTL, tls, err := byTimeline(segs, intact.has, nil)
	if err != nil {
		return err
	}
	for _, tl := range tls {
		cs, err := compareOverlaps(ctx, st, tl, byTL[tl], 0, math.MaxUint64, ids)
		if err != nil {
			if problem, ok := dataProblem(err); ok {
				r.damage(segments.TimelinePrefix(tl), "comparing overlapping segments: "+problem)
				continue
			}
			return err
		}
		r.Conflicts = append(r.Conflicts, cs...)
	}
	return nil
}
