package migrate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/walship/walship/segments"
)

// ErrMismatch: a segment or base migrate wrote does not read back as the
// source it was made from. Its source is not deleted.
var ErrMismatch = errors.New("migrated object does not match its source")

// check reads a new segment back from the store into a scratch file and
// compares it with its source: every byte with what was uploaded (sum,
// when known); its header (version 2, the target's recipients, the
// source's name, count, times, raw length, codec and source format); its
// stored SHA-256; and, when it is plain or an identity opens it and the
// source's entries are known (want), every entry.
func (m *migrator) check(ctx context.Context, key string, src segments.Header, want []digest, sum *digest) error {
	tmp, err := os.CreateTemp(m.o.Scratch, "check-*.tmp")
	if err != nil {
		return fmt.Errorf("check %s: %w", key, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := m.download(ctx, key, tmp); err != nil {
		return err
	}
	got, _, err := hashFrom(tmp)
	if err != nil {
		return fmt.Errorf("check %s: %w", key, err)
	}
	if sum != nil && got != *sum {
		return fmt.Errorf("check %s: %w: the stored bytes differ from those uploaded", key, ErrMismatch)
	}
	h, err := segments.CheckStored(bufio.NewReader(tmp))
	if err != nil {
		return fmt.Errorf("check %s: %w: %w", key, ErrMismatch, err)
	}
	if why := sameSegment(h, src, m.tgt); why != "" {
		return fmt.Errorf("check %s: %w: %s", key, ErrMismatch, why)
	}
	if want == nil || h.CheckIdentities(m.o.Identities) != nil {
		m.verified(false)
		return nil
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("check %s: %w", key, err)
	}
	rd, err := segments.NewReaderWith(bufio.NewReaderSize(tmp, 256<<10), segments.ReadOptions{Identities: m.o.Identities})
	if err != nil {
		return fmt.Errorf("check %s: %w: %w", key, ErrMismatch, err)
	}
	defer rd.Close()
	for i := 0; ; i++ {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			if i != len(want) {
				return fmt.Errorf("check %s: %w: %d entries, the source has %d", key, ErrMismatch, i, len(want))
			}
			break
		}
		if err != nil {
			return fmt.Errorf("check %s: %w: %w", key, ErrMismatch, err)
		}
		if i >= len(want) || entryDigest(e) != want[i] {
			return fmt.Errorf("check %s: %w: entry %d differs from the source's", key, ErrMismatch, e.Index)
		}
	}
	m.verified(true)
	return nil
}

// sameSegment says how h, a migrated segment's header, differs from its
// source's, src; "" when it holds what a rewrite of src for t must.
func sameSegment(h, src segments.Header, t target) string {
	switch {
	case !t.segment(h):
		return fmt.Sprintf("version %d sealed to %v, want version 2 sealed to %v", h.Version, h.Recipients, t.fps)
	case segments.NameOf(h) != segments.NameOf(src) || h.Count != src.Count || h.MinTime != src.MinTime:
		return fmt.Sprintf("header for %d entries %d..%d of timeline %d, the source's for %d entries %d..%d of timeline %d",
			h.Count, h.First, h.Last, h.Timeline, src.Count, src.First, src.Last, src.Timeline)
	case h.RawLen != src.RawLen || h.Codec != src.Codec || h.SourceFormat != src.SourceFormat:
		return fmt.Sprintf("raw length %d, codec %v, source format %d; the source's %d, %v, %d", h.RawLen, h.Codec, h.SourceFormat, src.RawLen, src.Codec, src.SourceFormat)
	}
	return ""
}

func (m *migrator) download(ctx context.Context, key string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	rc, err := m.st.Get(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("check %s: %w", key, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("check %s: %w", key, err)
	}
	return nil
}
