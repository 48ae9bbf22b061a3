package pitr

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"golang.org/x/sync/errgroup"
)

// Damage is an object Verify found wrong.
type Damage struct {
	Key     string `json:"key"`
	Problem string `json:"problem"`
}

// Gap is a run of entries: in Report.Gaps, entries of a timeline's own
// range that no intact segment holds; in Report.Lost, entries the agent
// recorded as truncated by the database before it shipped them.
type Gap struct {
	Timeline uint32 `json:"timeline"`
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
}

// Report is what Verify found.
type Report struct {
	Objects   int      `json:"objects"`   // every object in the store
	Segments  int      `json:"segments"`  // objects with a segment key
	Timelines int      `json:"timelines"` // objects with a timeline record key
	Entries   uint64   `json:"entries"`   // entries in intact segments
	Bytes     int64    `json:"bytes"`     // bytes of every object
	Damaged   []Damage `json:"damaged"`
	Gaps      []Gap    `json:"gaps"`
	Lost      []Gap    `json:"lost"` // recorded, not damage: see Gap
}

// OK reports whether the store is free of damage and gaps.
func (r *Report) OK() bool { return len(r.Damaged) == 0 && len(r.Gaps) == 0 }

// Describe writes the report for a person.
func (r *Report) Describe(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d objects, %s: %d segments holding %d intact entries, %d timeline records\n",
		r.Objects, humanBytes(r.Bytes), r.Segments, r.Entries, r.Timelines)
	for _, d := range r.Damaged {
		fmt.Fprintf(&b, "DAMAGED %s: %s\n", d.Key, d.Problem)
	}
	for _, g := range r.Gaps {
		fmt.Fprintf(&b, "GAP timeline %d: no intact segment holds entries %d..%d\n", g.Timeline, g.From, g.To)
	}
	for _, g := range r.Lost {
		fmt.Fprintf(&b, "lost before shipping (recorded by the agent) timeline %d: entries %d..%d\n", g.Timeline, g.From, g.To)
	}
	if r.OK() {
		b.WriteString("OK: no damage, no gaps\n")
	}
	io.WriteString(w, b.String())
}

// verifyParallel is how many segments Verify reads at once.
const verifyParallel = 4

// Verify reads every object in st. Every segment is decoded in full (header
// CRC, per-entry CRC32C, payload SHA-256, size against the listing, header
// against key); every timeline record is decoded and its parent must
// exist; each timeline's own range must be held by intact segments without
// a hole. Keys under segments/ or timelines/ that are not walship keys are
// damage and are never read. Problems with the data go into the Report;
// the error is for a store that cannot be listed or read.
func Verify(ctx context.Context, st backends.Store) (*Report, error) {
	r, err := verify(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", st, err)
	}
	return r, nil
}

func verify(ctx context.Context, st backends.Store) (*Report, error) {
	r := &Report{}
	var segs []SegmentInfo
	var tlKeys []string
	err := st.List(ctx, "", "", func(oi backends.ObjectInfo) error {
		r.Objects++
		r.Bytes += oi.Size
		switch {
		case strings.HasPrefix(oi.Key, segments.SegmentsPrefix):
			name, err := segments.ParseSegmentKey(oi.Key)
			if err != nil || name.Key() != oi.Key {
				r.damage(oi.Key, "not a walship segment key: foreign or hostile object under segments/ (restore ignores it)")
				return nil
			}
			segs = append(segs, SegmentInfo{Key: oi.Key, Size: oi.Size, Name: name})
		case strings.HasPrefix(oi.Key, segments.TimelinesPrefix):
			if _, err := segments.ParseTimelineKey(oi.Key); err != nil {
				r.damage(oi.Key, "not a walship timeline record key: foreign or hostile object under timelines/ (restore ignores it)")
				return nil
			}
			tlKeys = append(tlKeys, oi.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	r.Segments, r.Timelines = len(segs), len(tlKeys)

	recs := map[uint32]segments.Timeline{}
	unreadable := map[uint32]bool{} // records reported damaged already
	for _, key := range tlKeys {
		id, _ := segments.ParseTimelineKey(key)
		rec, err := readTimeline(ctx, st, key, id)
		if err != nil {
			if problem, ok := dataProblem(err); ok {
				r.damage(key, problem)
				unreadable[id] = true
				continue
			}
			return nil, err
		}
		recs[id] = rec
	}

	intact, err := r.verifySegments(ctx, st, segs)
	if err != nil {
		return nil, err
	}
	r.checkHistory(recs, unreadable, segs, intact)
	slices.SortFunc(r.Damaged, func(a, b Damage) int { return cmp.Compare(a.Key, b.Key) })
	slices.SortFunc(r.Gaps, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(a.Timeline, b.Timeline), cmp.Compare(a.From, b.From))
	})
	return r, nil
}

func (r *Report) damage(key, problem string) {
	r.Damaged = append(r.Damaged, Damage{Key: key, Problem: problem})
}

// dataProblem tells damage (the object is wrong or gone) from a store
// failure, and words the damage.
func dataProblem(err error) (string, bool) {
	switch {
	case errors.Is(err, segments.ErrCorrupt), errors.Is(err, segments.ErrUnknownVersion):
		return err.Error(), true
	case backends.IsNotFound(err):
		return "listed but gone when read: " + err.Error(), true
	}
	return "", false
}

// verifySegments decodes every segment, verifyParallel at a time, and
// returns which are intact (by position in segs). Damage goes into the
// report; a store failure stops the walk and is returned.
func (r *Report) verifySegments(ctx context.Context, st backends.Store, segs []SegmentInfo) ([]bool, error) {
	intact := make([]bool, len(segs))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyParallel)
	for i, s := range segs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			entries, err := verifySegment(gctx, st, s)
			problem, damaged := "", false
			if err != nil {
				if problem, damaged = dataProblem(err); !damaged {
					return err
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if damaged {
				r.damage(s.Key, problem)
			} else {
				intact[i] = true
				r.Entries += entries
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return intact, ctx.Err()
}

// verifySegment reads one segment in full. Store failures come back as
// they are; everything wrong with the object wraps segments.ErrCorrupt.
func verifySegment(ctx context.Context, st backends.Store, s SegmentInfo) (uint64, error) {
	rc, err := st.Get(ctx, s.Key, 0, -1)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", s.Key, err)
	}
	defer rc.Close()
	cr := &countReader{r: &ctxReader{ctx: ctx, r: rc}}
	rd, err := segments.NewReader(bufio.NewReaderSize(cr, 256<<10))
	if err != nil {
		return 0, readProblem(cr, s.Key, err)
	}
	defer rd.Close()
	if err := checkName(s.Key, s.Name, rd.Header()); err != nil {
		return 0, err
	}
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, readProblem(cr, s.Key, err)
		}
	}
	if cr.n != s.Size {
		return 0, fmt.Errorf("%w: %d bytes read, the listing says %d", segments.ErrCorrupt, cr.n, s.Size)
	}
	return rd.Header().Count, nil
}

// readProblem keeps a failed read of the store apart from corruption: the
// segment reader words both as corruption.
func readProblem(cr *countReader, key string, err error) error {
	if cr.err != nil {
		return fmt.Errorf("read %s: %w", key, cr.err)
	}
	return err
}

type countReader struct {
	r   io.Reader
	n   int64
	err error // the first error other than io.EOF
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && c.err == nil {
		c.err = err
	}
	return n, err
}

// checkHistory checks parent links and the continuity of each timeline's
// own range: from its StartIndex to the furthest of its segments' last
// entries and its children's fork points.
func (r *Report) checkHistory(recs map[uint32]segments.Timeline, unreadable map[uint32]bool, segs []SegmentInfo, intact []bool) {
	byTL := map[uint32][]SegmentInfo{}
	end := map[uint32]uint64{}
	for i, s := range segs {
		tl := s.Name.Timeline
		end[tl] = max(end[tl], s.Name.Last)
		if intact[i] {
			byTL[tl] = append(byTL[tl], s)
		}
	}
	for _, rec := range recs {
		if rec.Parent == 0 {
			continue
		}
		if _, ok := recs[rec.Parent]; !ok {
			r.damage(segments.TimelineKey(rec.ID), fmt.Sprintf("parent timeline %d has no readable record %s: this timeline's history cannot be followed",
				rec.Parent, segments.TimelineKey(rec.Parent)))
			continue
		}
		end[rec.Parent] = max(end[rec.Parent], rec.ForkIndex)
		if rec.HasGap() {
			r.Lost = append(r.Lost, Gap{Timeline: rec.ID, From: rec.ForkIndex + 1, To: rec.StartIndex - 1})
		}
	}
	for tl, last := range end {
		rec, ok := recs[tl]
		if !ok && unreadable[tl] {
			continue
		}
		if !ok {
			r.damage(segments.TimelineKey(tl), fmt.Sprintf("missing: timeline %d has segments but no readable timeline record, so no restore can use them", tl))
			continue
		}
		if last < rec.StartIndex {
			continue
		}
		_, holes := cover(tl, byTL[tl], rec.StartIndex, last)
		for _, h := range holes {
			r.Gaps = append(r.Gaps, Gap(h))
		}
	}
	slices.SortFunc(r.Lost, func(a, b Gap) int { return cmp.Compare(a.Timeline, b.Timeline) })
}
