package pitr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/multi"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// fetched is a downloaded segment, checked and waiting to be written.
type fetched struct {
	src localCopy // the checked bytes (zero once decoded ahead)
	dec *streamed // its decoder, when decoded ahead (it owns src)
	hdr segments.Header
	err error
}

// fetch downloads one planned segment and checks it. With several stores
// (multi.Store) each replica is tried in preference order until one copy is
// present and intact; the error names every store's problem.
func fetch(ctx context.Context, st backends.Store, dir string, ps PlannedSegment, format wal.Format, ids []*crypt.Identity) (localCopy, segments.Header, error) {
	var errs []error
	for _, m := range multi.ReplicasOf(st) {
		c, hdr, err := fetchFrom(ctx, m.Store, dir, ps, format, ids)
		if err == nil {
			return c, hdr, nil
		}
		if ctx.Err() != nil {
			return localCopy{}, hdr, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
	}
	if len(errs) == 1 {
		return localCopy{}, segments.Header{}, errors.Unwrap(errs[0])
	}
	return localCopy{}, segments.Header{}, fmt.Errorf("segment %s: no intact copy in any store: %w", ps.Key(), errors.Join(errs...))
}

// fetchFrom downloads one planned segment, into memory when it is small
// (memFetchMax) and else into a temporary file in dir, and checks it whole
// before the writer may use it: the size against the listing, the header
// CRC and the payload SHA-256, and that ids open it when it is encrypted
// (CheckStoredWith: else another store's copy may), the header against the
// key, and the source format against the plan's.
func fetchFrom(ctx context.Context, st backends.Store, dir string, ps PlannedSegment, format wal.Format, ids []*crypt.Identity) (c localCopy, hdr segments.Header, err error) {
	var dst io.Writer
	var mem *bytes.Buffer
	if ps.Size <= memFetchMax {
		mem = bytes.NewBuffer(make([]byte, 0, ps.Size+1)) // +1: the byte that shows an object grown since the listing
		dst = mem
	} else {
		f, err := os.CreateTemp(dir, "segment-*")
		if err != nil {
			return c, hdr, fmt.Errorf("fetch %s: %w", ps.Key(), err)
		}
		defer func() {
			f.Close()
			if err != nil {
				os.Remove(f.Name())
			}
		}()
		c.path, dst = f.Name(), f
	}
	rc, ps, err := getSegment(ctx, st, ps, 0, -1)
	if err != nil {
		return c, hdr, err
	}
	// One pass: the body goes to its copy as the check reads it (header,
	// payload SHA-256, nothing after the payload), not downloaded and then
	// read back.
	body := &countReader{r: &ctxReader{ctx: ctx, r: io.LimitReader(rc, ps.Size+1)}}
	out := &writeRecorder{w: dst}
	tee := io.TeeReader(body, out)
	hdr, cerr := segments.CheckStoredWith(bufio.NewReaderSize(tee, segments.ReadBuffer(ps.Size)), segments.ReadOptions{Identities: ids})
	if cerr != nil && body.err == nil && out.err == nil {
		io.Copy(io.Discard, tee) // a check that stopped early: the size still decides what went wrong
	}
	rc.Close()
	switch {
	case out.err != nil:
		return c, hdr, fmt.Errorf("fetch %s: %w", ps.Key(), out.err)
	case body.err != nil:
		return c, hdr, fmt.Errorf("fetch %s: %w", ps.Key(), body.err)
	case body.n != ps.Size:
		return c, hdr, fmt.Errorf("segment %s: %w: fetched %d bytes, the listing said %d (object changed or truncated)", ps.Key(), ErrCorrupt, body.n, ps.Size)
	case cerr != nil:
		return c, hdr, fmt.Errorf("segment %s: %w", ps.Key(), cerr)
	}
	if err := checkName(ps.Key(), ps.Name, hdr); err != nil {
		return c, hdr, err
	}
	if wal.Format(hdr.SourceFormat) != format {
		return c, hdr, fmt.Errorf("segment %s holds a %s log, but the restore writes %s (the plan's first segment): the store mixes log formats",
			ps.Key(), wal.Format(hdr.SourceFormat), format)
	}
	if mem != nil {
		c.data = mem.Bytes()
	}
	return c, hdr, nil
}

// getSegment opens a segment a plan or listing named (offset and length as
// backends.Store.Get) and returns the one it opened. A segment gone since
// it was listed (a migration that writes a new generation of a segment
// deletes the older ones) is read from the highest other generation st
// holds: every generation holds the same entries, and readers check the
// header against the family the key names.
func getSegment(ctx context.Context, st backends.Store, ps PlannedSegment, offset, length int64) (io.ReadCloser, PlannedSegment, error) {
	rc, err := st.Get(ctx, ps.Key(), offset, length)
	if backends.IsNotFound(err) && !ps.regen {
		other, ok, lerr := otherGeneration(ctx, st, ps)
		if lerr != nil {
			return nil, ps, lerr
		}
		if ok {
			return getSegment(ctx, st, other, offset, length)
		}
	}
	if err != nil {
		return nil, ps, fetchError(ps.Key(), err)
	}
	return rc, ps, nil
}

// otherGeneration finds, in st, the highest generation of ps's segment
// other than ps's own (segments.SegmentName): one List of the family's
// keys.
func otherGeneration(ctx context.Context, st backends.Store, ps PlannedSegment) (PlannedSegment, bool, error) {
	best, found := ps, false
	err := st.List(ctx, ps.Name.FamilyPrefix(), "", func(oi backends.ObjectInfo) error {
		n, err := segments.ParseSegmentKey(oi.Key)
		if err != nil || n.Family() != ps.Name.Family() || n.Gen == ps.Name.Gen {
			return nil
		}
		if !found || n.Gen > best.Name.Gen {
			best.Name, best.Size, found = n, oi.Size, true
		}
		return nil
	})
	if err != nil {
		return ps, false, fmt.Errorf("segment %s is gone; list its other generations: %w", ps.Key(), err)
	}
	best.regen = true
	return best, found, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// chunkReplicas returns the store a base snapshot's chunks are read
// through. With several stores (multi.Store) a chunk is read from each in
// preference order until a copy decodes and hashes to its name
// (segments.CheckChunk: an encrypted one as stored), so a missing or damaged copy falls back to the
// next store; snapshot.RestoreFiles checks it again. With one store it is
// the store itself.
func chunkReplicas(st backends.Store) backends.Store {
	rs := multi.ReplicasOf(st)
	if len(rs) < 2 {
		return st
	}
	return &verifiedChunks{Store: st, replicas: rs}
}

type verifiedChunks struct {
	backends.Store
	replicas []multi.Member
}

func (v *verifiedChunks) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	d, err := segments.ParseChunkKey(key)
	if err != nil || offset != 0 || length >= 0 {
		return v.Store.Get(ctx, key, offset, length)
	}
	var errs []error
	for _, r := range v.replicas {
		b, err := readSmall(ctx, r.Store, key, segments.MaxChunkObjectSize)
		if err == nil {
			if _, err = segments.CheckChunk(bytes.NewReader(b), d); err == nil {
				return io.NopCloser(bytes.NewReader(b)), nil
			}
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
	}
	return nil, fmt.Errorf("no intact copy of %s in any store: %w", key, errors.Join(errs...))
}

// writeRecorder writes to w and keeps the first error, so that a failure
// to write the local copy is told apart from one to read the object.
type writeRecorder struct {
	w   io.Writer
	err error
}

func (r *writeRecorder) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}
