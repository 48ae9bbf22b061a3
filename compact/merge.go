package compact

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// openSegment fetches a segment and checks its header against its key.
// The caller reads it to io.EOF (which checks the count and the payload's
// SHA-256) and closes both.
func openSegment(ctx context.Context, st backends.Store, o object, ids []*crypt.Identity) (segments.Reader, io.Closer, error) {
	rc, err := st.Get(ctx, o.Key, 0, -1)
	if err != nil {
		return nil, nil, fmt.Errorf("read segment %s: %w", o.Key, err)
	}
	r, err := segments.NewReaderWith(bufio.NewReaderSize(rc, segments.ReadBuffer(o.Size)), segments.ReadOptions{Identities: ids})
	if err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("read segment %s: %w", o.Key, err)
	}
	h := r.Header()
	if n := segments.NameOf(h); n != o.Name.Family() {
		r.Close()
		rc.Close()
		return nil, nil, fmt.Errorf("read segment %s: its header names %s: %w", o.Key, n.Key(), segments.ErrCorrupt)
	}
	return r, rc, nil
}

// closeBoth closes a segment reader and its body.
func closeBoth(r segments.Reader, c io.Closer) {
	r.Close()
	c.Close()
}

// merge reads a run's inputs in index order, each checked in full, writes
// their entries as one segment to a temporary file and stores it
// create-only: sealed to o.Recipients when given, else plain version 1
// (and then no input may be encrypted). It returns the output; read counts
// the input bytes.
func merge(ctx context.Context, st backends.Store, o Options, tl uint32, run []object) (out object, read int64, err error) {
	f, err := os.CreateTemp(o.TempDir, "walship-compact-*.tmp")
	if err != nil {
		return out, 0, fmt.Errorf("compact: temporary file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	var w segments.SegmentWriter
	var format uint8
	defer func() {
		if w != nil && err != nil {
			w.Abort()
		}
	}()
	for _, in := range run {
		r, c, err := openSegment(ctx, st, in, o.Identities)
		if backends.IsNotFound(err) {
			return out, read, fmt.Errorf("%w: %v", errGone, err)
		}
		if errors.Is(err, crypt.ErrNoIdentity) {
			return out, read, fmt.Errorf("%w: %v", errSealed, err)
		}
		if err != nil {
			return out, read, err
		}
		h := r.Header()
		if h.Encrypted() && len(o.Recipients) == 0 {
			closeBoth(r, c)
			return out, read, fmt.Errorf("%w: segment %s (no recipients given to seal the merged segment to)", errSealed, in.Key)
		}
		if w == nil {
			format = h.SourceFormat
			if w, err = newOutput(f, tl, format, o); err != nil {
				closeBoth(r, c)
				return out, read, err
			}
		} else if h.SourceFormat != format {
			closeBoth(r, c)
			return out, read, fmt.Errorf("compact: segment %s holds another source format than %s: not merged", in.Key, run[0].Key)
		}
		err = copyEntries(w, r)
		closeBoth(r, c)
		if err != nil {
			return out, read, fmt.Errorf("compact: segment %s: %w", in.Key, err)
		}
		read += in.Size
	}
	h, err := w.Finish()
	if err != nil {
		return out, read, fmt.Errorf("compact: %w", err)
	}
	w = nil
	name := segments.NameOf(h)
	if name.First != run[0].Name.First || name.Last != run[len(run)-1].Name.Last {
		return out, read, fmt.Errorf("compact: merged %s..%s into entries %d..%d", run[0].Key, run[len(run)-1].Key, name.First, name.Last)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return out, read, fmt.Errorf("compact: %w", err)
	}
	out = object{Key: name.Key(), Size: size, Name: name, ModTime: o.Now().UTC()}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return out, read, fmt.Errorf("compact: %w", err)
	}
	err = st.Put(ctx, out.Key, f, size)
	if errors.Is(err, backends.ErrExists) {
		// An earlier pass stored it and stopped. Whatever it holds, nothing
		// is deleted for it until every entry of the run is found equal in
		// it (clean).
		var oi backends.ObjectInfo
		if oi, err = st.Stat(ctx, out.Key); err == nil {
			out.Size, out.ModTime = oi.Size, oi.ModTime
		}
	}
	if err != nil {
		return out, read, fmt.Errorf("compact: store %s: %w", out.Key, err)
	}
	return out, read, nil
}

// newOutput starts a merged segment: format 2 sealed to o.Recipients, or
// plain version 1 without.
func newOutput(f *os.File, tl uint32, format uint8, o Options) (segments.SegmentWriter, error) {
	if len(o.Recipients) > 0 {
		return segments.NewWriterV2(f, tl, format, o.Codec, o.Recipients)
	}
	return segments.NewWriter(f, tl, format, o.Codec)
}

// copyEntries appends every entry of r to w, to r's io.EOF.
func copyEntries(w segments.SegmentWriter, r segments.Reader) error {
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := w.Append(e); err != nil {
			return err
		}
	}
}

// errGone: an input went away between the listing and the merge (a prune,
// or another compactor). Not a failure: the next pass lists again.
var errGone = errors.New("a segment of the run is gone")

// errSealed: an input is encrypted, and compaction holds no identity that
// opens it (the agent holds only public keys) or no recipients to seal the
// output to. The run is skipped, not retried in this pass.
var errSealed = errors.New("a segment of the run is encrypted; compaction holds no identity to open it or no recipients to seal the merged segment to")
