package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// record is a timeline record or a restore point not in the target form.
type record struct {
	key   string
	size  int64
	kind  *Kind
	point bool
}

// codec turns a record's bytes into its plain version 1 encoding (the
// record as its owner wrote it) and into the target's form.
type codec struct {
	decode func(b []byte, ids []*crypt.Identity) (plain []byte, info segments.RecordInfo, err error)
	encode func(plain []byte, rs []*crypt.Recipient) ([]byte, error)
	// clear is what a reader without an identity learns from any version.
	clear func(b []byte) (string, error)
}

var timelineCodec = codec{
	decode: func(b []byte, ids []*crypt.Identity) ([]byte, segments.RecordInfo, error) {
		t, info, err := segments.DecodeTimelineWith(b, ids)
		if err != nil || (info.Encrypted() && !info.Opened) {
			return nil, info, err
		}
		plain, err := segments.EncodeTimeline(t)
		return plain, info, err
	},
	encode: func(plain []byte, rs []*crypt.Recipient) ([]byte, error) {
		t, err := segments.DecodeTimeline(plain)
		if err != nil {
			return nil, err
		}
		return segments.EncodeTimelineFor(t, rs)
	},
	clear: func(b []byte) (string, error) {
		t, err := segments.DecodeTimeline(b)
		return fmt.Sprint(t.ID, t.Parent, t.ForkIndex, t.StartIndex), err
	},
}

var pointCodec = codec{
	decode: func(b []byte, ids []*crypt.Identity) ([]byte, segments.RecordInfo, error) {
		p, info, err := segments.DecodePointWith(b, ids)
		if err != nil || (info.Encrypted() && !info.Opened) {
			return nil, info, err
		}
		plain, err := segments.EncodePoint(p)
		return plain, info, err
	},
	encode: func(plain []byte, rs []*crypt.Recipient) ([]byte, error) {
		p, err := segments.DecodePoint(plain)
		if err != nil {
			return nil, err
		}
		return segments.EncodePointFor(p, rs)
	},
	clear: func(b []byte) (string, error) {
		p, err := segments.DecodePoint(b)
		return fmt.Sprint(p.Name, p.Timeline, p.Index, p.Pinned), err
	},
}

func (r record) codec() codec {
	if r.point {
		return pointCodec
	}
	return timelineCodec
}

// planRecords reads every timeline record and point (without identities:
// their clear parts say how they are stored) and adds those not in the
// target form to p; a record sealed to others without an identity for it
// locks the plan.
func (m *migrator) planRecords(ctx context.Context, p *plan) error {
	kinds := []struct {
		prefix string
		kind   *Kind
		point  bool
		valid  func(string) bool
	}{
		{segments.TimelinesPrefix, &m.res.Timelines, false, func(k string) bool { _, err := segments.ParseTimelineKey(k); return err == nil }},
		{segments.PointsPrefix, &m.res.Points, true, func(k string) bool { _, err := segments.ParsePointKey(k); return err == nil }},
	}
	for _, k := range kinds {
		var recs []record
		err := m.list(ctx, k.prefix, func(oi backends.ObjectInfo) {
			if k.valid(oi.Key) {
				recs = append(recs, record{key: oi.Key, size: oi.Size, kind: k.kind, point: k.point})
			}
		})
		if err != nil {
			return err
		}
		for _, r := range recs {
			r.kind.Objects++
			b, err := m.get(ctx, r.key)
			if backends.IsNotFound(err) {
				continue // deleted since the listing
			}
			if err != nil {
				return err
			}
			_, info, err := r.codec().decode(b, nil)
			switch {
			case err != nil:
				m.res.Problems = append(m.res.Problems, Problem{Key: r.key, Problem: "left as it is: " + err.Error()})
				r.kind.Left++
			case m.tgt.record(info):
				r.kind.Current++
			case info.Encrypted() && !m.opens(info.Recipients):
				p.lock(info.Recipients, r.key)
			case info.Encrypted() && m.tgt.fps == nil && !m.o.Decrypt:
				p.clear = append(p.clear, r.key)
			default:
				r.kind.Rewrite++
				r.kind.Bytes += int64(len(b))
				if info.Encrypted() {
					r.kind.Encrypted++
				}
				p.records = append(p.records, r)
			}
		}
	}
	return nil
}

// opens says whether an identity given is for one of fps.
func (m *migrator) opens(fps []crypt.Fingerprint) bool {
	for _, id := range m.o.Identities {
		for _, fp := range fps {
			if id.Fingerprint() == fp {
				return true
			}
		}
	}
	return false
}

// errStale: a record changed between its read and its swap.
var errStale = errors.New("changed while migrating (run walship migrate again)")

// swapRecord replaces r by its target form with compare-and-swap, then
// reads it back: the very bytes written, which decode (opened when an
// identity allows) to the record read before. A record deleted meanwhile
// stays deleted.
func (m *migrator) swapRecord(ctx context.Context, sw backends.Swapper, r record) error {
	c := r.codec()
	cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
	old, ver, err := sw.GetVersion(cctx, r.key)
	cancel()
	if backends.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("migrate %s: %w", r.key, err)
	}
	plain, info, err := c.decode(old, m.o.Identities)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", r.key, err)
	}
	if m.tgt.record(info) {
		return nil // a concurrent run did it
	}
	nb, err := c.encode(plain, m.o.Recipients)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", r.key, err)
	}
	cctx, cancel = context.WithTimeout(ctx, m.o.CallTimeout)
	_, err = sw.PutIf(cctx, r.key, bytes.NewReader(nb), int64(len(nb)), ver)
	cancel()
	if backends.IsConflict(err) {
		return fmt.Errorf("migrate %s: %w", r.key, errStale)
	}
	if err != nil {
		return fmt.Errorf("migrate %s: %w", r.key, err)
	}
	cctx, cancel = context.WithTimeout(ctx, m.o.CallTimeout)
	got, _, err := sw.GetVersion(cctx, r.key)
	cancel()
	if err != nil {
		return fmt.Errorf("check %s: %w", r.key, err)
	}
	if !bytes.Equal(got, nb) {
		return fmt.Errorf("check %s: %w", r.key, errStale)
	}
	return m.checkRecord(r, c, got, plain)
}

// checkRecord checks a record as written, got, against the plain record
// it was made from: in the target form, and the same record (opened when
// an identity for the target was given, else its clear fields).
func (m *migrator) checkRecord(r record, c codec, got, plain []byte) error {
	var ids []*crypt.Identity
	if m.tgt.fps == nil || m.opens(m.tgt.fps) {
		ids = m.o.Identities
	}
	back, info, err := c.decode(got, ids)
	if err != nil {
		return fmt.Errorf("check %s: %w", r.key, err)
	}
	if !m.tgt.record(info) {
		return fmt.Errorf("check %s: record version %d sealed to %v, want the target %v", r.key, info.Version, info.Recipients, m.tgt.fps)
	}
	if back != nil {
		if !bytes.Equal(back, plain) {
			return fmt.Errorf("check %s: the record reads back differently", r.key)
		}
		return nil
	}
	a, err := c.clear(got)
	if err != nil {
		return fmt.Errorf("check %s: %w", r.key, err)
	}
	if b, _ := c.clear(plain); a != b {
		return fmt.Errorf("check %s: the record's clear fields read back differently", r.key)
	}
	return nil
}
