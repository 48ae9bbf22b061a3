package compact

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// cleanResult is what one clean step did.
type cleanResult struct {
	deleted   int // in a dry run: that a real pass would compare and delete
	read      int64
	gone      map[string]bool // keys deleted
	waiting   int             // contained segments left for a later pass
	conflicts []string        // contained segments that differ from their container
}

// clean deletes the contained segments whose container is old enough (see
// the package doc), each only after it and its container were read in
// full and every entry compared. Per container, one pass reads the
// container once for the contained segments that do not overlap one
// another; the others wait for a later pass.
func clean(ctx context.Context, st backends.Store, o Options, inner []contained) (cleanResult, error) {
	res := cleanResult{gone: map[string]bool{}}
	groups := map[string][]contained{}
	var order []object
	for _, c := range inner {
		if o.Now().Sub(c.in.ModTime) < o.Grace || c.in.ModTime.IsZero() {
			res.waiting++
			continue
		}
		if _, ok := groups[c.in.Key]; !ok {
			order = append(order, c.in)
		}
		groups[c.in.Key] = append(groups[c.in.Key], c)
	}
	if o.DryRun {
		for _, cs := range groups {
			res.deleted += len(cs)
		}
		return res, nil
	}
	// The smallest containers first: segments inside a segment that is
	// itself inside a larger one are compared with it before it goes.
	slices.SortStableFunc(order, func(a, b object) int { return cmp.Compare(a.span(), b.span()) })
	for _, in := range order {
		cs := groups[in.Key]
		slices.SortFunc(cs, func(a, b contained) int { return byRange(a.obj, b.obj) })
		var batch []object
		for _, c := range cs {
			if len(batch) > 0 && c.obj.Name.First <= batch[len(batch)-1].Name.Last {
				res.waiting++
				continue
			}
			batch = append(batch, c.obj)
		}
		same, differ, read, err := compareContained(ctx, st, in, batch, o.Identities)
		res.read += read
		res.conflicts = append(res.conflicts, differ...)
		if err != nil {
			return res, err
		}
		for _, key := range same {
			if err := st.Delete(ctx, key); err != nil {
				return res, fmt.Errorf("compact: delete %s (held by %s): %w", key, in.Key, err)
			}
			res.deleted++
			res.gone[key] = true
		}
		if len(same) > 0 {
			o.Log.Info("compaction: deleted segments held by a larger one", "store", st.String(), "container", in.Key, "deleted", len(same))
		}
	}
	return res, nil
}

// compareContained reads container in full and, beside it, each segment
// of batch (sorted, not overlapping, all inside it), comparing entries at
// each index. It returns the keys found equal (only once the container
// itself was read to its end and passed every check) and those that
// differ. A contained segment that fails its own checks is neither: it is
// left for verify to report.
func compareContained(ctx context.Context, st backends.Store, container object, batch []object, ids []*crypt.Identity) (same, differ []string, read int64, err error) {
	cr, cc, err := openSegment(ctx, st, container, ids)
	if err != nil {
		if backends.IsNotFound(err) {
			return nil, nil, 0, nil // pruned or merged meanwhile: the next pass sees
		}
		if errors.Is(err, crypt.ErrNoIdentity) {
			return nil, nil, 0, nil // encrypted: nothing it holds is deleted without comparing
		}
		return nil, nil, 0, err
	}
	defer closeBoth(cr, cc)
	read = container.Size
	var ce segments.Entry // the container's current entry
	advance := func(to uint64) error {
		for ce.Index < to {
			e, err := cr.Next()
			if err != nil {
				return fmt.Errorf("compact: container %s: %w", container.Key, noEOF(err))
			}
			ce = e
		}
		return nil
	}
	for _, o := range batch {
		equal, err := compareOne(ctx, st, o, advance, &ce, ids)
		if err != nil {
			return nil, nil, read, err
		}
		read += o.Size
		switch equal {
		case 1:
			same = append(same, o.Key)
		case -1:
			differ = append(differ, fmt.Sprintf("%s differs from %s, which holds the same entries", o.Key, container.Key))
		}
	}
	// The container's count and payload SHA-256 are checked at its end.
	for {
		if _, err := cr.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, read, fmt.Errorf("compact: container %s: %w", container.Key, err)
		}
	}
	return same, differ, read, nil
}

// compareOne compares one contained segment with the container's entries:
// 1 equal, -1 different, 0 unreadable or gone (kept). Only a failure of the
// container is an error.
func compareOne(ctx context.Context, st backends.Store, o object, advance func(uint64) error, ce *segments.Entry, ids []*crypt.Identity) (int, error) {
	r, c, err := openSegment(ctx, st, o, ids)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, nil
	}
	defer closeBoth(r, c)
	verdict := 1
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return verdict, nil
		}
		if err != nil {
			return 0, nil
		}
		if err := advance(e.Index); err != nil {
			return 0, err
		}
		if ce.Index != e.Index || !bytes.Equal(ce.Data, e.Data) {
			verdict = -1
		}
	}
}

// noEOF turns an early end of the container into a clear error.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("it ends before an entry a segment it contains holds: %w", segments.ErrCorrupt)
	}
	return err
}
