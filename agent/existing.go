package agent

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/walship/walship/segments"
)

// localCopy is the spool file a shipper uploads for an item (the plain
// segment, or its set's encrypted copy), and the item's plain segment.
type localCopy struct {
	path      string
	size      int64
	hdr       []byte // the upload file's header bytes
	plainHdr  []byte // the plain segment's header bytes
	plain     segments.Header
	plainSize int64
}

func (s *shipper) local(item string) (localCopy, error) {
	var lc localCopy
	path, err := s.uploadPath(item)
	if err != nil {
		return lc, err
	}
	plain, plainHdr, err := readHeaderFile(s.a.spool.path(item))
	if err != nil {
		return lc, err
	}
	lc = localCopy{path: path, plain: plain, plainHdr: plainHdr, plainSize: plain.ObjectSize(), hdr: plainHdr, size: plain.ObjectSize()}
	if s.set != nil {
		h, b, err := readHeaderFile(path)
		if err != nil {
			return lc, err
		}
		lc.hdr, lc.size = b, h.ObjectSize()
	}
	return lc, nil
}

// verifyExisting checks that the object the store already held under key
// is this item's segment (uploaded before a crash, cursor not yet saved),
// not another writer's. What matches:
//
//   - the very bytes this shipper uploads: header bytes (which carry the
//     stored payload's SHA-256) and size equal to the upload file's. A
//     retry after a crash uploads the same spool file, so this is the
//     usual case for encrypted stores too;
//   - the plain segment itself (header bytes and size): uploaded while the
//     store was plain, before its encryption was configured (logged);
//   - an encrypted segment (format v2) whose clear header holds the same
//     entries as far as a header can say (timeline, range, count, times,
//     raw length, codec, source format), whose size fits its header and
//     whose stored SHA-256 checks out over the whole object: an encryption
//     of this segment made before a crash or a change of recipients (one
//     sealed to other recipients than the store's is logged). Its
//     plaintext cannot be compared (the agent holds no identity): another
//     writer that sealed different entries with the same header under
//     this key would be taken. The lease keeps other agents off the
//     prefix; walship verify with an identity opens every segment.
func (s *shipper) verifyExisting(ctx context.Context, key string, lc localCopy) error {
	oi, err := s.store.Store.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	rc, err := s.store.Store.Get(ctx, key, 0, min(oi.Size, segments.MaxHeaderSize))
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	h, got, err := segments.ReadHeader(rc)
	rc.Close()
	if err != nil {
		return s.mismatch(key, fmt.Sprintf("its header does not read: %v", err))
	}
	switch {
	case oi.Size == lc.size && bytes.Equal(got, lc.hdr):
		return nil
	case oi.Size == lc.plainSize && bytes.Equal(got, lc.plainHdr):
		s.a.log.Warn("store already holds this segment unencrypted (uploaded before its encryption was configured); kept",
			"store", s.store.Name, "object", key)
		return nil
	// A plain version 2 copy of the same entries is what walship migrate
	// without recipients leaves: checked like an encrypted one.
	case (!h.Encrypted() && h.Version != segments.Version2) || !sameEntries(h, lc.plain) || oi.Size != h.ObjectSize():
		return s.mismatch(key, fmt.Sprintf("%d bytes, header for %d..%d; sealed %d bytes for %d..%d", oi.Size, h.First, h.Last, lc.size, lc.plain.First, lc.plain.Last))
	}
	rc, err = s.store.Store.Get(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	_, err = segments.CheckStored(rc)
	rc.Close()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("verify %s: %w", key, err)
		}
		return s.mismatch(key, fmt.Sprintf("an encrypted segment that does not check out: %v", err))
	}
	if h.Encrypted() && (s.set == nil || !slices.Equal(h.Recipients, s.set.fps)) {
		s.a.log.Warn("store already holds this segment encrypted to other recipients than configured now (made before a change of recipients); kept: it opens with their identities",
			"store", s.store.Name, "object", key, "recipients", h.Recipients)
	}
	return nil
}
