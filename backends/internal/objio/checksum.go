package objio

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/walship/walship/backends"
)

// A single-request upload to an S3-style service is checked by the service
// against a digest sent with it, computed from the local copy in a pass
// before the upload (Checked): the service refuses a body that does not
// match, and nothing is stored. The digest is a CRC32C
// (x-amz-checksum-crc32c) where the service is known to check it, else a
// Content-MD5, which every S3-style service checks but which costs the
// agent several times more CPU per byte (MD5 about 0.6 GB/s per core here,
// CRC32C several GB/s).
//
// A service that checks a CRC32C names it in its answer. The first answer
// without it (an older or partial S3 implementation that ignores the
// header) switches the store to Content-MD5 for good, with one warning.
// That is normally the answer to the conditional-write probe's first
// write (CondProbe), before any real upload. Should it be a real upload's,
// the object it made was not checked: that Put fails and the next attempt
// finds the object and compares it with the local copy, as after any crash
// between upload and cursor.

// DigestMode says which digest a store's single-request uploads carry.
type DigestMode struct {
	md5 atomic.Bool
}

// MD5 reports whether uploads carry a Content-MD5 (the service did not
// confirm a CRC32C once).
func (d *DigestMode) MD5() bool { return d.md5.Load() }

// SetMD5 makes uploads carry a Content-MD5 from now on (tests).
func (d *DigestMode) SetMD5() { d.md5.Store(true) }

// Confirm checks the service's answer to an upload that carried the
// CRC32C sent (base64): echoed is the x-amz-checksum-crc32c of the answer.
// An answer without one switches d to MD5 (one warning naming store) and
// fails, unless probe: a probe's object (objio.CondProbe's, which nothing
// reads) only teaches the mode, before any real upload. An answer with
// another value fails.
func (d *DigestMode) Confirm(store, key, sent, echoed string, probe bool) error {
	switch {
	case echoed == sent:
		return nil
	case echoed == "":
		if d.md5.CompareAndSwap(false, true) {
			slog.Default().Warn("the store does not confirm the CRC32C checksum of an upload: walship sends a Content-MD5 with each upload instead (more CPU per byte)",
				"store", store)
		}
		if probe {
			return nil
		}
		return fmt.Errorf("put %s: the service did not confirm the CRC32C of the upload; the object is compared with the local copy on the next attempt", key)
	}
	return fmt.Errorf("put %s: the service stored CRC32C %s, the local copy has %s", key, echoed, sent)
}

// Checked reads r from its start, verifies it holds exactly size bytes,
// and returns their digest: the MD5 when md5, else the CRC32C, base64 as
// the headers carry them. r is left at 0 again. A body of the wrong length
// is refused before any byte goes out. It reads the local body under any
// wrapper (backends.Local): the pass sends nothing, so a throttled body
// does not pay for it as upload traffic.
func Checked(ctx context.Context, r io.ReadSeeker, size int64, md5sum bool) (string, error) {
	var h hash.Hash = crc32.New(castagnoli)
	if md5sum {
		h = md5.New()
	}
	sum, err := checkedSum(ctx, r, size, h)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sum), nil
}

// CheckedCRC32C is Checked's CRC32C as a number (GCS takes it so).
func CheckedCRC32C(ctx context.Context, r io.ReadSeeker, size int64) (uint32, error) {
	h := crc32.New(castagnoli)
	if _, err := checkedSum(ctx, r, size, h); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checkedSum(ctx context.Context, r io.ReadSeeker, size int64, h hash.Hash) ([]byte, error) {
	r = backends.Local(r)
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: io.LimitReader(r, size+1)})
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if n != size {
		return nil, fmt.Errorf("body has %d bytes, want %d: %w", n, size, ErrShortBody)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind body: %w", err)
	}
	return h.Sum(nil), nil
}
