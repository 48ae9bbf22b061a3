package migrate

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// member is one generation of a segment, its header read.
type member struct {
	key  string
	size int64
	gen  uint32
	h    segments.Header
}

// family is a segment and its generations, lowest first (see
// segments.SegmentName).
type family struct {
	name segments.SegmentName // without a generation
	objs []member
	src  int // the member a rewrite decodes; -1: none opens
}

func (f *family) top() member { return f.objs[len(f.objs)-1] }

// plan is what Run found in the store and decided.
type plan struct {
	rewrite []*family                  // top not current: write generation top+1
	finish  []*family                  // top current, lower generations left by a killed run
	records []record                   // timeline records and points not in the target form
	locked  []string                   // keys of objects no identity given opens
	lockFPs map[crypt.Fingerprint]bool // their recipients
	clear   []string                   // encrypted objects a plain target would decrypt, without Options.Decrypt
	bases   *basePlan                  // base snapshots
	keys    []keyRecord                // key records as planned
}

// ErrWouldDecrypt: the target is plain, the store holds encrypted objects,
// and Options.Decrypt was not set.
var ErrWouldDecrypt = errors.New("a plain target would decrypt encrypted objects")

// target says whether a header or a record is in the form asked for.
type target struct {
	fps []crypt.Fingerprint // sorted; nil: plain
}

func (t target) segment(h segments.Header) bool {
	return h.Version == segments.Version2 && slices.Equal(h.Recipients, t.fps)
}

func (t target) record(info segments.RecordInfo) bool {
	if len(t.fps) == 0 {
		return info.Version == 1
	}
	return info.Version == segments.RecordVersion2 && slices.Equal(info.Recipients, t.fps)
}

// listSegments groups the segment keys by name. Keys that do not parse
// are not walship's and are never touched.
func (m *migrator) listSegments(ctx context.Context) ([]*family, error) {
	byName := map[segments.SegmentName]*family{}
	err := m.list(ctx, segments.SegmentsPrefix, func(oi backends.ObjectInfo) {
		n, err := segments.ParseSegmentKey(oi.Key)
		if err != nil {
			return
		}
		f := byName[n.Family()]
		if f == nil {
			f = &family{name: n.Family()}
			byName[n.Family()] = f
		}
		f.objs = append(f.objs, member{key: oi.Key, size: oi.Size, gen: n.Gen})
	})
	if err != nil {
		return nil, err
	}
	out := make([]*family, 0, len(byName))
	for _, f := range byName {
		slices.SortFunc(f.objs, func(a, b member) int { return cmp.Compare(a.gen, b.gen) })
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *family) int { return cmp.Compare(a.name.Key(), b.name.Key()) })
	return out, nil
}

// readHeaders reads the header of every generation of every family, 8 at
// a time. A family with a header that does not read is a Problem, left
// alone.
func (m *migrator) readHeaders(ctx context.Context, fams []*family) ([]*family, error) {
	bad := make([]error, len(fams))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, f := range fams {
		g.Go(func() error {
			for j := range f.objs {
				h, err := m.readHeader(gctx, f.objs[j].key)
				if backends.IsNotFound(err) {
					continue // deleted since the listing (prune, compaction): dropped below
				}
				if err != nil {
					if gctx.Err() != nil || !errors.Is(err, segments.ErrCorrupt) && !errors.Is(err, segments.ErrUnknownVersion) {
						return err
					}
					bad[i] = err
					return nil
				}
				if segments.NameOf(h) != f.name {
					bad[i] = fmt.Errorf("segment %s: %w: its header names %s", f.objs[j].key, segments.ErrCorrupt, segments.NameOf(h).Key())
					return nil
				}
				f.objs[j].h = h
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var ok []*family
	for i, f := range fams {
		if bad[i] != nil {
			m.res.Problems = append(m.res.Problems, Problem{Key: f.top().key, Problem: "left as it is: " + bad[i].Error()})
			m.res.Segments.Left++
			continue
		}
		if f.objs = slices.DeleteFunc(f.objs, func(o member) bool { return o.h.Version == 0 }); len(f.objs) > 0 {
			ok = append(ok, f)
		}
	}
	return ok, nil
}

func (m *migrator) readHeader(ctx context.Context, key string) (segments.Header, error) {
	b, err := m.head(ctx, key, segments.MaxHeaderSize)
	if err != nil {
		return segments.Header{}, err
	}
	h, _, err := segments.ReadHeader(bytes.NewReader(b))
	if err != nil {
		return h, fmt.Errorf("segment %s: %w", key, err)
	}
	return h, nil
}

// head reads the first n bytes of key (all of a shorter object).
func (m *migrator) head(ctx context.Context, key string, n int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	defer cancel()
	rc, err := m.st.Get(ctx, key, 0, n)
	if err != nil {
		return nil, fmt.Errorf("read header of %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read header of %s: %w", key, err)
	}
	return b, nil
}

// classify decides each family: current (nothing to do), finish (delete
// the lower generations of a current top) or rewrite (from the highest
// generation an identity opens). A rewrite no identity allows is recorded
// in p.locked by the top's recipients.
func (m *migrator) classify(fams []*family, p *plan) {
	for _, f := range fams {
		m.res.Segments.Objects++
		f.src = -1
		for j := len(f.objs) - 1; j >= 0; j-- {
			if f.objs[j].h.CheckIdentities(m.o.Identities) == nil {
				f.src = j
				break
			}
		}
		top := f.top()
		switch {
		case m.tgt.segment(top.h) && len(f.objs) == 1:
			m.res.Segments.Current++
		case m.tgt.segment(top.h):
			m.res.Segments.Current++
			p.finish = append(p.finish, f)
		case f.src < 0:
			p.lock(top.h.Recipients, top.key)
		case m.tgt.fps == nil && top.h.Encrypted() && !m.o.Decrypt:
			p.clear = append(p.clear, top.key)
		default:
			m.res.Segments.Rewrite++
			m.res.Segments.Bytes += f.objs[f.src].size
			if f.objs[f.src].h.Encrypted() {
				m.res.Segments.Encrypted++
			}
			p.rewrite = append(p.rewrite, f)
		}
	}
}

func (p *plan) lock(fps []crypt.Fingerprint, key string) {
	if p.lockFPs == nil {
		p.lockFPs = map[crypt.Fingerprint]bool{}
	}
	for _, fp := range fps {
		p.lockFPs[fp] = true
	}
	p.locked = append(p.locked, key)
}

// lockedError is the plan's refusal when objects need an identity that was
// not given: it names the fingerprints and an object of each, and matches
// crypt.ErrNoIdentity.
func (m *migrator) lockedError(p *plan) error {
	if len(p.clear) > 0 {
		slices.Sort(p.clear)
		return fmt.Errorf("migrate %s: %w: %d object(s) are encrypted (%s, for one) and no recipients were given: give the recipients to keep them encrypted, or ask for plain objects explicitly; nothing was changed",
			m.st, ErrWouldDecrypt, len(p.clear), p.clear[0])
	}
	if len(p.locked) == 0 {
		return nil
	}
	var recorded []crypt.Fingerprint
	for fp := range p.lockFPs {
		recorded = append(recorded, fp)
	}
	slices.Sort(p.locked)
	n, example := len(p.locked), p.locked[0]
	slices.SortFunc(recorded, func(a, b crypt.Fingerprint) int { return bytes.Compare(a[:], b[:]) })
	ne := &crypt.NoIdentityError{Recorded: recorded, Given: crypt.IdentityFingerprints(m.o.Identities)}
	return fmt.Errorf("migrate %s: %d object(s) are sealed to other recipients than the target's (%s, for one): to rewrite them walship must open them: %w; nothing was changed",
		m.st, n, example, ne)
}
