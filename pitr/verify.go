package pitr

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/internal/spill"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
	"golang.org/x/sync/errgroup"
)

// verifyParallel is how many segments Verify reads at once.
const verifyParallel = 4

// Verify reads every object in st. Every segment is decoded in full (header
// CRC, per-entry CRC32C, payload SHA-256, size against the listing, header
// against key); every timeline record is decoded and its parent must
// exist; each timeline's own range must be held by intact segments without
// a hole, and segments whose ranges overlap must hold the same entries
// where they do (else a Conflict naming both and the first differing
// index). Every chunk is decoded and hashed against its key; every
// snapshot manifest is decoded and validated, and each chunk it names must
// be stored and intact (else the manifest is damage too, naming the
// chunk); every restore point record is decoded, and a restore to it is
// planned from the intact objects alone: one that cannot be planned is
// listed in UnrestorablePoints. Keys under segments/, timelines/,
// snapshots/, chunks/ or points/ that are not walship keys are damage and
// are never read. Problems with the data go into the Report; the error is
// for a store that cannot be listed or read.
func Verify(ctx context.Context, st backends.Store) (*Report, error) {
	return VerifyWith(ctx, st, VerifyOptions{})
}

func verify(ctx context.Context, st backends.Store, prog Progress, since time.Time, ids []*crypt.Identity) (*Report, error) {
	r := &Report{}
	segs := spill.New(segInfoCodec) // every listed segment, in listing order
	defer segs.Release()
	var chunks []chunkInfo
	var tlKeys, snapKeys, pointKeys, keyKeys []string
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
			segs.Append(SegmentInfo{Size: oi.Size, Name: name})
		case strings.HasPrefix(oi.Key, segments.TimelinesPrefix):
			if _, err := segments.ParseTimelineKey(oi.Key); err != nil {
				r.damage(oi.Key, "not a walship timeline record key: foreign or hostile object under timelines/ (restore ignores it)")
				return nil
			}
			tlKeys = append(tlKeys, oi.Key)
		case strings.HasPrefix(oi.Key, snapshot.InProgressPrefix):
			r.InProgress++ // an upload running or killed: its chunks are garbage for prune, not damage
		case strings.HasPrefix(oi.Key, segments.SnapshotsPrefix):
			if _, err := segments.ParseSnapshotKey(oi.Key); err != nil {
				r.damage(oi.Key, "not a walship snapshot manifest key: foreign or hostile object under snapshots/ (restore ignores it)")
				return nil
			}
			snapKeys = append(snapKeys, oi.Key)
		case strings.HasPrefix(oi.Key, segments.ChunksPrefix):
			d, err := segments.ParseChunkKey(oi.Key)
			if err != nil {
				r.damage(oi.Key, "not a walship chunk key: foreign or hostile object under chunks/ (restore ignores it)")
				return nil
			}
			chunks = append(chunks, chunkInfo{key: oi.Key, size: oi.Size, digest: d})
		case strings.HasPrefix(oi.Key, crypt.KeyRecordsPrefix):
			if !crypt.IsKeyRecordKey(oi.Key) {
				r.damage(oi.Key, "not a walship key record key: foreign or hostile object under "+crypt.KeyRecordsPrefix+" (restore ignores it)")
				return nil
			}
			keyKeys = append(keyKeys, oi.Key)
		case strings.HasPrefix(oi.Key, segments.PointsPrefix):
			if _, err := segments.ParsePointKey(oi.Key); err != nil {
				r.damage(oi.Key, "not a walship restore point key: foreign or hostile object under points/ (restore ignores it)")
				return nil
			}
			pointKeys = append(pointKeys, oi.Key)
		}
		return nil
	})
	if err == nil {
		err = segs.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	r.Segments, r.Timelines = segs.Len(), len(tlKeys)
	r.Snapshots, r.Chunks, r.Points, r.KeyRecords = len(snapKeys), len(chunks), len(pointKeys), len(keyKeys)
	sel, err := r.selectSince(ctx, st, since, segs, chunks, snapKeys)
	if err != nil {
		return nil, err
	}
	prog.Total(readTotals(segs, chunks, sel))

	tls := &timelineSet{recs: map[uint32]segments.Timeline{}, bad: map[uint32]error{}}
	for _, key := range tlKeys {
		id, _ := segments.ParseTimelineKey(key)
		tls.ids = append(tls.ids, id)
		rec, err := readTimeline(ctx, st, key, id, ids)
		if err != nil {
			if problem, ok := dataProblem(err); ok {
				r.damage(key, problem)
				tls.bad[id] = err
				continue
			}
			return nil, err
		}
		tls.recs[id] = rec
	}
	slices.Sort(tls.ids)

	intact, err := r.verifySegments(ctx, st, segs, sel, prog, ids)
	if err != nil {
		return nil, err
	}
	unreadable := map[uint32]bool{}
	for id := range tls.bad {
		unreadable[id] = true
	}
	held, err := r.checkHistory(tls.recs, unreadable, segs, intact)
	if err != nil {
		return nil, err
	}
	if err := r.checkOverlaps(ctx, st, segs, readIntact(intact, sel), ids); err != nil {
		return nil, err
	}

	kr, err := r.verifyKeyRecords(ctx, st, keyKeys, ids)
	if err != nil {
		return nil, err
	}
	goodChunks, err := r.verifyChunks(ctx, st, chunks, sel, prog, kr.chunkOptions())
	if err != nil {
		return nil, err
	}
	bases, manifests, err := r.verifyManifests(ctx, st, snapKeys, chunks, goodChunks, kr)
	if err != nil {
		return nil, err
	}
	r.settlePrefixes(tls.recs, bases, held)

	// What a restore can use: intact objects only.
	pl := newPlanner(st, Target{}, tls)
	pl.ids = ids
	if pl.segs, _, err = byTimeline(segs, intact.has, tls.ids); err != nil {
		return nil, err
	}
	defer pl.release()
	pl.bases, pl.basesRead, pl.manifests, pl.chunks = bases, true, manifests, goodChunks
	if err := r.verifyPoints(ctx, st, pointKeys, pl, ids); err != nil {
		return nil, err
	}

	slices.SortFunc(r.Damaged, func(a, b Damage) int { return cmp.Compare(a.Key, b.Key) })
	slices.SortFunc(r.Conflicts, func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Timeline, b.Timeline), cmp.Compare(a.Index, b.Index), cmp.Compare(a.A, b.A))
	})
	slices.SortFunc(r.Gaps, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(a.Timeline, b.Timeline), cmp.Compare(a.From, b.From))
	})
	return r, nil
}

// checkAll runs check on items 0..n-1, verifyParallel at a time. An item
// whose check fails with a data problem is recorded as damage to key(i); a
// passing check's record func runs under the report's lock; any other
// failure (the store) stops the walk and is returned. done(i) follows
// every item checked, damaged or not.
func (r *Report) checkAll(ctx context.Context, n int, key func(int) string, done func(int), check func(context.Context, int) (record func(), err error)) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(verifyParallel)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error {
			record, err := check(gctx, i)
			problem, damaged := "", false
			if err != nil {
				if problem, damaged = dataProblem(err); !damaged {
					return err
				}
			}
			done(i)
			mu.Lock()
			defer mu.Unlock()
			if damaged {
				r.damage(key(i), problem)
			} else {
				record()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// verifyPoints reads every restore point record and plans a restore to
// each from what pl holds (the intact objects).
func (r *Report) verifyPoints(ctx context.Context, st backends.Store, keys []string, pl *planner, ids []*crypt.Identity) error {
	for _, key := range keys {
		name, _ := segments.ParsePointKey(key)
		p, err := readPoint(ctx, st, key, name, ids)
		if err != nil {
			problem, ok := dataProblem(err)
			if !ok {
				return err
			}
			r.damage(key, problem)
			continue
		}
		if len(pl.tls.ids) == 0 {
			r.UnrestorablePoints = append(r.UnrestorablePoints, Damage{Key: key, Problem: "the store holds no timeline record"})
			continue
		}
		pl.t, pl.notes, pl.rejected, pl.timeScan = Target{Index: p.Index, Timeline: p.Timeline}, nil, nil, nil
		if _, err := pl.plan(ctx); err != nil {
			if !isPlanProblem(err) {
				return err
			}
			r.UnrestorablePoints = append(r.UnrestorablePoints, Damage{Key: key,
				Problem: fmt.Sprintf("point %q (timeline %d, index %d): %v", p.Name, p.Timeline, p.Index, err)})
		}
	}
	return nil
}

// isPlanProblem tells a restore that cannot be planned from the data from a
// store failure.
func isPlanProblem(err error) bool {
	for _, e := range []error{ErrNotRestorable, ErrMissingSegments, ErrBrokenHistory, ErrCorrupt, ErrConflict, segments.ErrUnknownVersion, ErrBadTarget, backends.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
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
func (r *Report) verifySegments(ctx context.Context, st backends.Store, segs segSeq, sel sinceSelection, prog Progress, ids []*crypt.Identity) (bits, error) {
	intact := newBits(segs.Len())
	err := r.checkAll(ctx, segs.Len(), func(i int) string { return segs.At(i).Key() }, func(i int) {
		if sel.segment(i) {
			prog.Add(1, segs.At(i).Size)
		}
	},
		func(ctx context.Context, i int) (func(), error) {
			if !sel.segment(i) { // listed, not read (--since)
				return func() { intact.set(i, true) }, nil
			}
			entries, sealed, err := verifySegment(ctx, st, segs.At(i), ids)
			replaced, read := false, true
			if backends.IsNotFound(err) {
				entries, sealed, read, err = verifyReplaced(ctx, st, segs, i, ids)
				replaced = err == nil
			}
			if err != nil {
				return nil, err
			}
			return func() {
				if replaced {
					r.Replaced++
				}
				if !read {
					return
				}
				intact.set(i, true)
				r.Entries += entries
				if sealed {
					r.SealedSegments++
				}
			}, nil
		})
	if err != nil {
		return nil, err
	}
	return intact, nil
}

// verifyReplaced handles segs[i], listed but gone when read. Compaction
// deletes a segment only once a segment that contains it has existed for
// its grace period, and a migration only once it stored the segment's new
// generation; neither is damage:
//
//   - another listed segment of its timeline holds its whole range: that
//     one is read in its own turn (read is false: nothing was read here);
//   - another generation of it is stored: that one is read now, in its
//     place (read is true);
//
// and else the NotFound comes back: the segment's loss is damage.
func verifyReplaced(ctx context.Context, st backends.Store, segs segSeq, i int, ids []*crypt.Identity) (entries uint64, sealed, read bool, err error) {
	s := segs.At(i).Name
	for j := i - 1; j >= 0 && segs.At(j).Name.Timeline == s.Timeline; j-- {
		if segs.At(j).Name.Last >= s.Last {
			return 0, false, false, nil
		}
	}
	for j := i + 1; j < segs.Len() && segs.At(j).Name.Timeline == s.Timeline && segs.At(j).Name.First == s.First; j++ {
		if segs.At(j).Name.Last >= s.Last {
			return 0, false, false, nil
		}
	}
	other, ok, err := otherGeneration(ctx, st, PlannedSegment{Name: s, Size: segs.At(i).Size})
	if err != nil {
		return 0, false, false, err
	}
	if !ok {
		return 0, false, false, fmt.Errorf("read %s: %w", segs.At(i).Key(), backends.ErrNotFound)
	}
	entries, sealed, err = verifySegment(ctx, st, SegmentInfo{Name: other.Name, Size: other.Size}, ids)
	return entries, sealed, true, err
}

// verifySegment reads one segment in full. Store failures come back as
// they are; everything wrong with the object wraps segments.ErrCorrupt. An
// encrypted segment none of ids opens is checked as stored (sealedSegment;
// sealed is true).
func verifySegment(ctx context.Context, st backends.Store, s SegmentInfo, ids []*crypt.Identity) (entries uint64, sealed bool, err error) {
	rc, err := st.Get(ctx, s.Key(), 0, -1)
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", s.Key(), err)
	}
	defer rc.Close()
	cr := &countReader{r: &ctxReader{ctx: ctx, r: rc}}
	br := bufio.NewReaderSize(cr, segments.ReadBuffer(s.Size))
	if h, _, err := segments.ReadHeader(bytes.NewReader(peek(br, segments.MaxHeaderSize))); err == nil && h.CheckIdentities(ids) != nil {
		entries, err := sealedSegment(cr, br, s)
		return entries, true, err
	}
	rd, err := segments.NewReaderWith(br, segments.ReadOptions{Identities: ids})
	if err != nil {
		return 0, false, readProblem(cr, s.Key(), err)
	}
	defer rd.Close()
	if err := checkName(s.Key(), s.Name, rd.Header()); err != nil {
		return 0, false, err
	}
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, false, readProblem(cr, s.Key(), err)
		}
	}
	if cr.n != s.Size {
		return 0, false, fmt.Errorf("%w: %d bytes read, the listing says %d", segments.ErrCorrupt, cr.n, s.Size)
	}
	return rd.Header().Count, false, nil
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
