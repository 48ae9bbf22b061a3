// Package objio holds the small pieces every object-store backend needs
// around the Store contract: readers that hold a body to its declared size,
// key prefixing, and readers that release a per-call context on Close.
package objio

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/walship/walship/backends"
)

// ErrShortBody reports a Put body that ended before its declared size.
var ErrShortBody = errors.New("body shorter than its declared size")

// SizedReader presents exactly Size bytes of R. It reports io.ErrUnexpectedEOF
// (wrapping ErrShortBody) if R ends early, so an SDK never completes an
// upload of a truncated body, and it answers Seek(0, io.SeekEnd) with Size
// without trusting R's own length. SDKs seek it back to 0 to retry.
type SizedReader struct {
	r    io.ReadSeeker
	size int64
	pos  int64
}

// NewSizedReader wraps r, which must be positioned at 0.
func NewSizedReader(r io.ReadSeeker, size int64) *SizedReader {
	return &SizedReader{r: r, size: size}
}

// Read implements io.Reader.
func (s *SizedReader) Read(p []byte) (int, error) {
	if s.pos >= s.size {
		return 0, io.EOF
	}
	if rest := s.size - s.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.r.Read(p)
	s.pos += int64(n)
	if errors.Is(err, io.EOF) {
		if s.pos < s.size {
			return n, fmt.Errorf("%w: %w after %d of %d bytes", io.ErrUnexpectedEOF, ErrShortBody, s.pos, s.size)
		}
		err = nil
	}
	if err == nil && s.pos >= s.size {
		err = io.EOF
	}
	return n, err
}

// Seek implements io.Seeker within [0, Size].
func (s *SizedReader) Seek(off int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = off
	case io.SeekCurrent:
		abs = s.pos + off
	case io.SeekEnd:
		abs = s.size + off
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if abs < 0 || abs > s.size {
		return 0, fmt.Errorf("seek to %d outside body of %d bytes", abs, s.size)
	}
	if _, err := s.r.Seek(abs, io.SeekStart); err != nil {
		return 0, err
	}
	s.pos = abs
	return abs, nil
}

// Len returns the bytes left to read.
func (s *SizedReader) Len() int64 { return s.size - s.pos }

// CheckedMD5 reads r from its start, verifies it holds exactly size bytes and
// returns their MD5, leaving r positioned at 0 again. It is the pre-pass for
// single-request uploads: the server verifies the digest, and a body of the
// wrong length is refused before any byte goes out.
func CheckedMD5(ctx context.Context, r io.ReadSeeker, size int64) ([]byte, error) {
	return checkedSum(ctx, r, size, md5.New())
}

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

// NormPrefix turns a store prefix into "" or "dir/" form.
func NormPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// ReadCloser pairs a reader with a close function, used to release a
// per-call context when the caller closes a Get body.
type ReadCloser struct {
	io.Reader
	CloseFn func() error
}

// Close implements io.Closer.
func (r ReadCloser) Close() error {
	if r.CloseFn == nil {
		return nil
	}
	return r.CloseFn()
}

// Empty returns a reader with no bytes.
func Empty() io.ReadCloser { return io.NopCloser(strings.NewReader("")) }

// WithTimeout bounds ctx by d when d > 0.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// SizedReaderAt is a SizedReader whose source also supports ReadAt, so SDKs
// that read parts in parallel (minio-go) can do so without buffering.
type SizedReaderAt struct {
	*SizedReader
	ra io.ReaderAt
}

// ReadAt implements io.ReaderAt within [0, Size).
func (s *SizedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at %d: negative offset", off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	short := false
	if rest := s.size - off; int64(want) > rest {
		p, short = p[:rest], true
	}
	n, err := s.ra.ReadAt(p, off)
	if n < len(p) && (err == nil || errors.Is(err, io.EOF)) {
		return n, fmt.Errorf("%w: %w at offset %d of %d bytes", io.ErrUnexpectedEOF, ErrShortBody, off+int64(n), s.size)
	}
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// Body wraps r as a SizedReader, with ReadAt when r has it.
func Body(r io.ReadSeeker, size int64) io.ReadSeeker {
	sr := NewSizedReader(r, size)
	if ra, ok := r.(io.ReaderAt); ok {
		return &SizedReaderAt{SizedReader: sr, ra: ra}
	}
	return sr
}

// CheckLen verifies, by seeking, that r holds exactly size bytes and leaves
// it at 0. Multipart uploads call it first: a short body found halfway
// through an upload surfaces from some SDKs as a vague connection error.
func CheckLen(r io.ReadSeeker, size int64) error {
	n, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("measure body: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind body: %w", err)
	}
	if n != size {
		return fmt.Errorf("body has %d bytes, want %d: %w", n, size, ErrShortBody)
	}
	return nil
}

// Reword gives err a new message while keeping it in the chain for
// errors.Is/As: SDK errors can span lines or carry request URLs.
func Reword(msg string, err error) error { return &reworded{msg: msg, err: err} }

type reworded struct {
	msg string
	err error
}

func (r *reworded) Error() string { return r.msg }
func (r *reworded) Unwrap() error { return r.err }

// CheckGet validates a Get's key and offset, the same way for every store.
func CheckGet(key string, offset int64) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("get %s: %w", key, err))
	}
	if offset < 0 {
		return backends.Permanent(fmt.Errorf("get %s: negative offset %d", key, offset))
	}
	return nil
}

// GetNothing answers a Get of length 0: an empty reader if the object
// exists (stat says), its not-found error otherwise.
func GetNothing(ctx context.Context, key string, stat func(context.Context, string) (backends.ObjectInfo, error)) (io.ReadCloser, error) {
	if _, err := stat(ctx, key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return Empty(), nil
}
