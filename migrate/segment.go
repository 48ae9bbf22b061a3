package migrate

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/walship/walship/segments"
)

// digest stands for one entry: SHA-256 of its index, time and data.
type digest [sha256.Size]byte

func entryDigest(e segments.Entry) digest {
	h := sha256.New()
	var b [16]byte
	for i := range 8 {
		b[i] = byte(e.Index >> (56 - 8*i))
		b[8+i] = byte(uint64(e.Time) >> (56 - 8*i))
	}
	h.Write(b[:])
	h.Write(e.Data)
	return digest(h.Sum(nil))
}

// rewrite writes the next generation of f from its source, checks it and
// deletes every older generation.
func (m *migrator) rewrite(ctx context.Context, f *family) error {
	src := f.objs[f.src]
	if f.top().gen == math.MaxUint32 {
		return fmt.Errorf("rewrite %s: no generation left after %d", f.top().key, f.top().gen)
	}
	name := f.name
	name.Gen = f.top().gen + 1
	key := name.Key()
	tmp, err := os.CreateTemp(m.o.Scratch, "segment-*.tmp")
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", src.key, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	var srcH segments.Header
	var want []digest
	if src.h.Version == segments.Version1 && m.tgt.fps != nil && !m.opens(m.tgt.fps) {
		// Nothing will open the copy to compare entries: seal the v1
		// payload as it is (no recompression); its SHA-256 is checked
		// while it streams.
		srcH, err = m.seal(ctx, src, tmp)
	} else {
		srcH, want, err = m.decode(ctx, src, tmp)
	}
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("rewrite %s: %w", src.key, err)
	}
	sum, size, err := hashFrom(tmp)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", src.key, err)
	}
	if err := m.put(ctx, key, tmp, size); err != nil {
		return err
	}
	if err := m.check(ctx, key, srcH, want, &sum); err != nil {
		if errors.Is(err, ErrMismatch) {
			// The source read intact and the copy differs: the copy is
			// wrong. It goes, so that restore does not prefer it.
			cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
			defer cancel()
			if derr := m.st.Delete(cctx, key); derr != nil {
				return fmt.Errorf("%w; deleting it: %w", err, derr)
			}
		}
		return err
	}
	return m.deleteAll(ctx, f.objs)
}

// finish checks the current top generation of f, written by a run that was
// killed before it deleted the older ones, against the highest older one,
// then deletes those.
func (m *migrator) finish(ctx context.Context, f *family) error {
	older := f.objs[:len(f.objs)-1]
	src := older[len(older)-1]
	for j := len(older) - 1; j >= 0; j-- {
		if older[j].h.CheckIdentities(m.o.Identities) == nil {
			src = older[j]
			break
		}
	}
	var want []digest
	srcH := src.h
	if src.h.CheckIdentities(m.o.Identities) == nil {
		var err error
		if srcH, want, err = m.decode(ctx, src, nil); err != nil {
			return err
		}
	}
	if err := m.check(ctx, f.top().key, srcH, want, nil); err != nil {
		return err
	}
	return m.deleteAll(ctx, older)
}

// decode reads a whole segment, checked as restore does (stored SHA-256,
// per-entry CRC), and returns its header and the digests of its entries;
// with a sink it writes them as a version 2 segment for the target.
func (m *migrator) decode(ctx context.Context, src member, sink segments.Sink) (segments.Header, []digest, error) {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	rc, err := m.st.Get(ctx, src.key, 0, -1)
	if err != nil {
		return segments.Header{}, nil, fmt.Errorf("read %s: %w", src.key, err)
	}
	defer rc.Close()
	rd, err := segments.NewReaderWith(bufio.NewReaderSize(rc, 256<<10), segments.ReadOptions{Identities: m.o.Identities})
	if err != nil {
		return segments.Header{}, nil, fmt.Errorf("read %s: %w", src.key, err)
	}
	defer rd.Close()
	h := rd.Header()
	var w *segments.WriterV2
	if sink != nil {
		if w, err = segments.NewWriterV2(sink, h.Timeline, h.SourceFormat, h.Codec, m.o.Recipients); err != nil {
			return h, nil, fmt.Errorf("rewrite %s: %w", src.key, err)
		}
		defer w.Abort()
	}
	var ds []digest
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h, nil, fmt.Errorf("read %s: %w", src.key, err)
		}
		ds = append(ds, entryDigest(e))
		if w != nil {
			if err := w.Append(e); err != nil {
				return h, nil, fmt.Errorf("rewrite %s: entry %d: %w", src.key, e.Index, err)
			}
		}
	}
	if uint64(len(ds)) != h.Count {
		return h, nil, fmt.Errorf("read %s: %w: %d entries, header says %d", src.key, segments.ErrCorrupt, len(ds), h.Count)
	}
	if w != nil {
		if _, err := w.Finish(); err != nil {
			return h, nil, fmt.Errorf("rewrite %s: %w", src.key, err)
		}
	}
	return h, ds, nil
}

// seal writes src, a version 1 segment, to sink as version 2 sealed to
// the target (segments.EncryptV1), and returns src's header.
func (m *migrator) seal(ctx context.Context, src member, sink segments.Sink) (segments.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	rc, err := m.st.Get(ctx, src.key, 0, -1)
	if err != nil {
		return segments.Header{}, fmt.Errorf("read %s: %w", src.key, err)
	}
	defer rc.Close()
	h, err := segments.EncryptV1(sink, bufio.NewReaderSize(rc, 256<<10), m.o.Recipients)
	if err != nil {
		return segments.Header{}, fmt.Errorf("rewrite %s: %w", src.key, err)
	}
	if segments.NameOf(h) != segments.NameOf(src.h) {
		return segments.Header{}, fmt.Errorf("rewrite %s: %w: it changed since its header was read", src.key, segments.ErrCorrupt)
	}
	return src.h, nil
}

// hashFrom returns the SHA-256 and size of f's whole content.
func hashFrom(f *os.File) (digest, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return digest{}, 0, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return digest{}, 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return digest{}, 0, err
	}
	return digest(h.Sum(nil)), n, nil
}
