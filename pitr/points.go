package pitr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// Named restore points (segments.Point, stored at points/<name>.json) name a
// position in a timeline's history so that a restore can ask for it by name
// (Target.Point). A point is created once (create-only Put) and may be
// deleted; it is never rewritten. Mark writes a point to every store of a
// replica set (multi.Store), and only if each of them holds the entry.

// Mark records a restore point named name at the position at resolves to
// (ResolvePoint) and stores it (PutPoint): with a multi.Store, in each of
// its stores. It returns the point recorded.
func Mark(ctx context.Context, st backends.Store, name string, pinned bool, at Target) (segments.Point, error) {
	return MarkWith(ctx, st, name, pinned, at, PointOptions{})
}

// PointOptions tune MarkWith and ResolvePointWith.
type PointOptions struct {
	// Identities open the encrypted segments a point is resolved with (the
	// one holding the entry, whose time the point records; for a time
	// target, the ones searched); see segments.ReadOptions.
	Identities []*crypt.Identity
	// SealTo gives the recipients a point is encrypted to in each store
	// it is written to (record version 2); nil or an empty answer writes it
	// plain (version 1). A store whose segment holding the point's entry is
	// encrypted refuses a plain point (ErrPlainPoint).
	SealTo func(multi.Member) []*crypt.Recipient
}

// ErrPlainPoint: a restore point would be written plain into a store that
// holds encrypted segments.
var ErrPlainPoint = errors.New("restore point would be plain in an encrypted store")

// MarkWith is Mark with options.
func MarkWith(ctx context.Context, st backends.Store, name string, pinned bool, at Target, o PointOptions) (segments.Point, error) {
	p, err := ResolvePointWith(ctx, st, name, pinned, at, o)
	if err != nil {
		return p, err
	}
	return p, PutPointWith(ctx, st, p, o)
}

// ResolvePoint works out, without writing anything, the point Mark would
// record: at (Latest, the default: the last shipped entry of the newest
// timeline, or of at.Timeline; or Index or Time) resolved to a timeline and
// an entry index as a restore plan resolves it, and the time of that entry,
// read from the segment that holds it. The entry must be stored.
func ResolvePoint(ctx context.Context, st backends.Store, name string, pinned bool, at Target) (segments.Point, error) {
	return ResolvePointWith(ctx, st, name, pinned, at, PointOptions{})
}

// ResolvePointWith is ResolvePoint with options.
func ResolvePointWith(ctx context.Context, st backends.Store, name string, pinned bool, at Target, o PointOptions) (segments.Point, error) {
	p, err := resolvePoint(ctx, st, name, pinned, at, o.Identities)
	if err != nil {
		if errors.Is(err, ErrNoBackup) || errors.Is(err, ErrInvalidPointName) {
			return p, err
		}
		return p, fmt.Errorf("mark restore point %q (%s) in %s: %w", name, at, st, err)
	}
	return p, nil
}

func resolvePoint(ctx context.Context, st backends.Store, name string, pinned bool, at Target, ids []*crypt.Identity) (segments.Point, error) {
	if err := segments.ValidPointName(name); err != nil {
		return segments.Point{}, fmt.Errorf("%w: %v", ErrInvalidPointName, err)
	}
	if at.Point != "" {
		return segments.Point{}, fmt.Errorf("%w: a restore point is marked at the latest entry, an index or a time, not at another point", ErrBadTarget)
	}
	kind, err := at.kind()
	if err != nil {
		return segments.Point{}, err
	}
	tls, err := loadTimelines(ctx, st)
	if err != nil {
		return segments.Point{}, err
	}
	if len(tls.ids) == 0 {
		return segments.Point{}, fmt.Errorf("%w in %s (no timelines/ objects); check the URL/prefix", ErrNoBackup, st)
	}
	pl := newPlanner(st, at, tls)
	defer pl.release()
	pl.ids = ids
	tl := at.Timeline
	if tl == 0 {
		tl = tls.newest()
	}
	if _, err := tls.history(tl); err != nil {
		return segments.Point{}, err
	}
	var n uint64
	switch kind {
	case targetIndex:
		n = at.Index
	case targetTime:
		n, err = pl.atTime(ctx, tl, at.Time)
	default:
		n, err = pl.latest(ctx, tl)
	}
	if err != nil {
		return segments.Point{}, err
	}
	ps, err := pl.entryAt(ctx, tl, n)
	if err != nil {
		return segments.Point{}, err
	}
	ns, err := entryTime(ctx, st, ps, n, pl.ids)
	if err != nil {
		return segments.Point{}, err
	}
	return segments.Point{Name: name, Timeline: tl, Index: n, Time: time.Unix(0, ns).UTC(),
		Created: time.Now().UTC().Round(0), Pinned: pinned}, nil
}

// PutPoint stores p, create-only. With a multi.Store it is stored in each
// of its stores, and only after every one of them was checked: each must
// hold the entry p names (a store that has not shipped it yet is an error
// naming that store) and none may hold a point of that name already
// (ErrPointExists). A store failing during the writes is an error naming
// the stores written and the ones not.
func PutPoint(ctx context.Context, st backends.Store, p segments.Point) error {
	return PutPointWith(ctx, st, p, PointOptions{})
}

// PutPointWith is PutPoint that encrypts the point in each store to the
// recipients o.SealTo gives for it.
func PutPointWith(ctx context.Context, st backends.Store, p segments.Point, o PointOptions) error {
	if err := segments.ValidPointName(p.Name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPointName, err)
	}
	key := segments.PointKey(p.Name)
	replicas := multi.ReplicasOf(st)
	records := make([][]byte, len(replicas))
	sealed := make([]bool, len(replicas))
	for i, r := range replicas {
		var rs []*crypt.Recipient
		if o.SealTo != nil {
			rs = o.SealTo(r)
		}
		sealed[i] = len(rs) > 0
		b, err := segments.EncodePointFor(p, rs)
		if err != nil {
			return fmt.Errorf("mark restore point %q in %s: %w", p.Name, r.Name, err)
		}
		records[i] = b
	}
	for i, r := range replicas {
		_, err := r.Store.Stat(ctx, key)
		switch {
		case err == nil:
			return pointExists(p.Name, r.Name)
		case !backends.IsNotFound(err):
			return fmt.Errorf("mark restore point %q: check %s in %s: %w", p.Name, key, r.Name, err)
		}
		h, err := checkShipped(ctx, r.Store, p)
		if err != nil {
			return fmt.Errorf("mark restore point %q in %s: %w", p.Name, r.Name, err)
		}
		if h.Encrypted() && !sealed[i] {
			return fmt.Errorf("mark restore point %q in %s: %w: its segments are encrypted (to %v); give the store's recipients (walship mark --config FILE with its encryption, or --encrypt-to FILE)",
				p.Name, r.Name, ErrPlainPoint, h.Recipients)
		}
	}
	var written []string
	for i, r := range replicas {
		b := records[i]
		err := r.Store.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
		if backends.IsExists(err) {
			err = pointExists(p.Name, r.Name)
		}
		if err != nil {
			if len(written) > 0 {
				return fmt.Errorf("mark restore point %q: stored in %s, but not in %s: %w", p.Name, strings.Join(written, ", "), r.Name, err)
			}
			return fmt.Errorf("mark restore point %q in %s: %w", p.Name, r.Name, err)
		}
		written = append(written, r.Name)
	}
	return nil
}

func pointExists(name, store string) error {
	return fmt.Errorf("%w: a restore point named %q exists in %s; pick another name, or delete it first (walship mark STORE --delete %s)", ErrPointExists, name, store, name)
}

// checkShipped makes sure st holds the entry p names on p's timeline's
// history, and returns the header of the segment that holds it.
func checkShipped(ctx context.Context, st backends.Store, p segments.Point) (segments.Header, error) {
	tls, err := loadTimelines(ctx, st)
	if err != nil {
		return segments.Header{}, err
	}
	if _, err := tls.history(p.Timeline); err != nil {
		return segments.Header{}, fmt.Errorf("entry %d of timeline %d is not shipped there yet: %w", p.Index, p.Timeline, err)
	}
	pl := newPlanner(st, Target{Index: p.Index, Timeline: p.Timeline}, tls)
	defer pl.release()
	ps, err := pl.entryAt(ctx, p.Timeline, p.Index)
	if err != nil {
		return segments.Header{}, fmt.Errorf("entry %d of timeline %d is not shipped there yet (wait for it, or mark an earlier --index): %w", p.Index, p.Timeline, err)
	}
	return readHeader(ctx, st, ps)
}

// entryAt returns the stored segment that holds entry n of tl's history.
func (pl *planner) entryAt(ctx context.Context, tl uint32, n uint64) (PlannedSegment, error) {
	spans, _, err := pl.tls.resolve(tl, n, false)
	if err != nil {
		return PlannedSegment{}, err
	}
	sp := spans[len(spans)-1] // the span that ends at n
	segs, err := pl.segments(ctx, sp.Timeline)
	if err != nil {
		return PlannedSegment{}, err
	}
	var used []PlannedSegment // entry n is in one segment at most
	holes, err := pl.cover(sp.Timeline, segs, n, n, func(ps PlannedSegment) bool { used = append(used, ps); return true })
	if err != nil {
		return PlannedSegment{}, err
	}
	if len(holes) > 0 || len(used) == 0 {
		extra := ""
		if last, err := pl.latest(ctx, tl); err == nil && n > last {
			extra = fmt.Sprintf(" (timeline %d is shipped up to entry %d)", tl, last)
		}
		return PlannedSegment{}, fmt.Errorf("%w: no stored segment of timeline %d holds entry %d%s", ErrMissingSegments, sp.Timeline, n, extra)
	}
	return used[0], nil
}

// entryTime reads a segment up to entry n and returns that entry's time.
func entryTime(ctx context.Context, st backends.Store, ps PlannedSegment, n uint64, ids []*crypt.Identity) (int64, error) {
	rc, ps, err := getSegment(ctx, st, ps, 0, -1)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	r, err := segments.NewReaderWith(bufio.NewReaderSize(rc, segments.ReadBuffer(ps.Size)), segments.ReadOptions{Identities: ids})
	if err != nil {
		return 0, fmt.Errorf("segment %s: %w", ps.Key(), err)
	}
	defer r.Close()
	if err := checkName(ps.Key(), ps.Name, r.Header()); err != nil {
		return 0, err
	}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("segment %s: %w: entry %d not found in it", ps.Key(), ErrCorrupt, n)
		}
		if err != nil {
			return 0, fmt.Errorf("segment %s: %w", ps.Key(), err)
		}
		if e.Index == n {
			return e.Time, nil
		}
	}
}

// LoadPoint reads the restore point name (with several stores, the first
// intact copy). A missing point is ErrNoPoint, naming the points there are.
func LoadPoint(ctx context.Context, st backends.Store, name string) (segments.Point, error) {
	return LoadPointWith(ctx, st, name, nil)
}

// LoadPointWith is LoadPoint that opens an encrypted point with ids when
// one matches; otherwise it gives the clear fields (zero times).
func LoadPointWith(ctx context.Context, st backends.Store, name string, ids []*crypt.Identity) (segments.Point, error) {
	if err := segments.ValidPointName(name); err != nil {
		return segments.Point{}, fmt.Errorf("%w: %v", ErrInvalidPointName, err)
	}
	key := segments.PointKey(name)
	var errs []error
	notFound := true
	for _, r := range multi.ReplicasOf(st) {
		p, err := readPoint(ctx, r.Store, key, name, ids)
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return p, err
		}
		if !backends.IsNotFound(err) {
			notFound = false
		}
		errs = append(errs, err)
	}
	if !notFound {
		return segments.Point{}, errors.Join(errs...)
	}
	names, err := pointNames(ctx, st)
	if err != nil {
		return segments.Point{}, err
	}
	have := "there are none"
	if len(names) > 0 {
		have = "existing points: " + strings.Join(names, ", ")
	}
	return segments.Point{}, fmt.Errorf("%w: no restore point %q in %s; %s (walship list STORE points)", ErrNoPoint, name, st, have)
}

// readPoint reads and checks one record: it must decode and name the point
// its key names.
func readPoint(ctx context.Context, st backends.Store, key, name string, ids []*crypt.Identity) (segments.Point, error) {
	b, err := readSmall(ctx, st, key, maxRecordSize)
	if err != nil {
		return segments.Point{}, err
	}
	p, _, err := segments.DecodePointWith(b, ids)
	if errors.Is(err, crypt.ErrNoIdentity) {
		p, err = segments.DecodePoint(b)
	}
	if err != nil {
		return p, fmt.Errorf("restore point %s: %w", key, err)
	}
	if p.Name != name {
		return p, fmt.Errorf("restore point %s: %w: the record names point %q", key, ErrCorrupt, p.Name)
	}
	return p, nil
}

// pointNames lists the names of the points in st, from keys alone.
func pointNames(ctx context.Context, st backends.Store) ([]string, error) {
	var names []string
	err := st.List(ctx, segments.PointsPrefix, "", func(oi backends.ObjectInfo) error {
		if name, err := segments.ParsePointKey(oi.Key); err == nil {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", segments.PointsPrefix, st, err)
	}
	return names, nil
}

// ListPoints returns every restore point in st, by name. Keys under points/
// that are not point keys are skipped (Verify reports them); a record that
// does not decode is an error naming its key.
func ListPoints(ctx context.Context, st backends.Store) ([]segments.Point, error) {
	return ListPointsWith(ctx, st, nil)
}

// ListPointsWith is ListPoints that opens encrypted points with ids where
// one matches.
func ListPointsWith(ctx context.Context, st backends.Store, ids []*crypt.Identity) ([]segments.Point, error) {
	names, err := pointNames(ctx, st)
	if err != nil {
		return nil, err
	}
	out := make([]segments.Point, 0, len(names))
	for _, name := range names {
		p, err := LoadPointWith(ctx, st, name, ids)
		if err != nil {
			return nil, fmt.Errorf("list restore points in %s: %w", st, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// DeletePoint deletes the restore point name: with a multi.Store, from each
// of its stores that holds it. A point no store holds is ErrNoPoint.
func DeletePoint(ctx context.Context, st backends.Store, name string) error {
	if err := segments.ValidPointName(name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidPointName, err)
	}
	key := segments.PointKey(name)
	found := false
	for _, r := range multi.ReplicasOf(st) {
		_, err := r.Store.Stat(ctx, key)
		if backends.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete restore point %q: %s: %w", name, r.Name, err)
		}
		found = true
		if err := r.Store.Delete(ctx, key); err != nil {
			return fmt.Errorf("delete restore point %q: %s: %w", name, r.Name, err)
		}
	}
	if !found {
		_, err := LoadPoint(ctx, st, name) // words the not-found error
		if err == nil {
			err = fmt.Errorf("%w: %q", ErrNoPoint, name)
		}
		return err
	}
	return nil
}
