package gcs

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// listPage is how many objects one listing request asks for (the
// service's maximum).
const listPage = 1000

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// write uploads size bytes of r (already checked to hold exactly that, with
// CRC32C crc) to name under cond, and returns the new object's attributes.
// Up to ChunkSize bytes go in one buffered request, up to SinglePutMax in
// one streamed request; more in a resumable upload. If
// copying the body fails, the upload's context is cancelled before the
// writer is closed, so nothing is committed.
func (s *Store) write(ctx context.Context, name string, r io.Reader, size int64, crc uint32,
	cond storage.Conditions, contentType string) (*storage.ObjectAttrs, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := s.bucket.Object(name).Retryer(s.uploadRetry()).If(cond).NewWriter(wctx)
	w.ContentType = contentType
	w.StorageClass = s.opt.StorageClass
	w.CRC32C, w.SendCRC32C = crc, true
	switch {
	case size <= s.opt.ChunkSize:
		// One buffered chunk larger than the body: the client sees its end
		// and sends a single request it can retry.
		w.ChunkSize = int(size + 1)
	case size <= s.opt.SinglePutMax:
		// One request streamed from the body: nothing buffered, no retry
		// by the client (a failed Put leaves no object; the caller retries).
		w.ChunkSize = 0
	default:
		w.ChunkSize = int(s.opt.ChunkSize)
	}
	body := &readRecorder{r: r}
	if _, err := io.Copy(w, body); err != nil {
		if body.err != nil { // the body failed: abandon the upload
			cancel()
			w.Close()
			return nil, body.err
		}
		if cerr := w.Close(); cerr != nil { // the upload failed: Close says why
			return nil, cerr
		}
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	attrs := w.Attrs()
	if attrs == nil || attrs.Size != size {
		got := int64(-1)
		if attrs != nil {
			got = attrs.Size
		}
		return attrs, fmt.Errorf("service stored %d bytes, want %d", got, size)
	}
	return attrs, nil
}

// readRecorder remembers the error its reader returned (other than EOF).
type readRecorder struct {
	r   io.Reader
	err error
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		rr.err = err
	}
	return n, err
}

// uploadRetry bounds one upload's retries. The client retries an upload
// request (or a resumable chunk) until the context ends, whatever
// WithMaxAttempts says, so each upload gets its own count: MaxAttempts
// attempts in a row may fail; an accepted request (a chunk) starts the
// count again. The client calls it from one goroutine per upload.
func (s *Store) uploadRetry() storage.RetryOption {
	failed := 0
	return storage.WithErrorFunc(func(err error) bool {
		if err == nil {
			failed = 0
			return false
		}
		failed++
		return failed < s.opt.MaxAttempts && storage.ShouldRetry(err)
	})
}

// Put implements backends.Store; see the package doc.
func (s *Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	if size < 0 {
		return backends.Permanent(fmt.Errorf("put %s: negative size %d", key, size))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	crc, err := objio.CheckedCRC32C(ctx, r, size) // the checksum the upload declares; a body of the wrong length refused first
	if err != nil {
		if errors.Is(err, objio.ErrShortBody) {
			err = backends.Permanent(err)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err = s.write(ctx, s.prefix+key, objio.NewSizedReader(r, size), size, crc,
		storage.Conditions{DoesNotExist: true}, "application/octet-stream")
	if errors.Is(err, objio.ErrShortBody) {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	return s.classify("put", key, err)
}

// Get implements backends.Store with a ranged read.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := objio.CheckGet(key, offset); err != nil {
		return nil, err
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	if length == 0 {
		defer cancel()
		return objio.GetNothing(ctx, key, s.Stat)
	}
	if length < 0 {
		length = -1
	}
	rd, err := s.bucket.Object(s.prefix+key).NewRangeReader(ctx, offset, length)
	if err != nil {
		defer cancel()
		if code, _, _ := status(err); code == 416 {
			oi, serr := s.Stat(ctx, key)
			if serr != nil {
				return nil, fmt.Errorf("get %s: %w", key, serr)
			}
			if offset == oi.Size {
				return objio.Empty(), nil
			}
			return nil, backends.Permanent(fmt.Errorf("get %s: offset %d outside object of %d bytes", key, offset, oi.Size))
		}
		return nil, s.classify("get", key, err)
	}
	return objio.ReadCloser{Reader: readErr{rd, s, key}, CloseFn: func() error {
		err := rd.Close()
		cancel()
		return err
	}}, nil
}

// readErr classifies errors met while reading a Get body (a CRC32C
// mismatch on a whole-object read, a cut connection), keeping io.EOF.
type readErr struct {
	r   io.Reader
	s   *Store
	key string
}

func (e readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = e.s.classify("get", e.key, err)
	}
	return n, err
}

// Stat implements backends.Store.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := backends.ValidKey(key); err != nil {
		return backends.ObjectInfo{}, backends.Permanent(fmt.Errorf("stat %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	a, err := s.bucket.Object(s.prefix + key).Attrs(ctx)
	if err != nil {
		return backends.ObjectInfo{}, s.classify("stat", key, err)
	}
	return backends.ObjectInfo{Key: key, Size: a.Size, ModTime: modTime(a)}, nil
}

// modTime is when this generation of the object was written: its creation
// time (a generation's bytes never change), else its last metadata update.
func modTime(a *storage.ObjectAttrs) (t time.Time) {
	if !a.Created.IsZero() {
		return a.Created.UTC()
	}
	return a.Updated.UTC()
}

// List implements backends.Store: the service lists in name order and
// seeks to after with StartOffset (inclusive, so after itself is skipped
// here). Timeout bounds each page.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := backends.ValidPrefix(prefix); err != nil {
		return backends.Permanent(fmt.Errorf("list %s: %w", prefix, err))
	}
	q := &storage.Query{Prefix: s.prefix + prefix}
	if after != "" {
		q.StartOffset = s.prefix + after
	}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Created", "Updated"}); err != nil {
		return err
	}
	token := ""
	for {
		pctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
		var page []*storage.ObjectAttrs
		next, err := iterator.NewPager(s.bucket.Objects(pctx, q), listPage, token).NextPage(&page)
		cancel()
		if err != nil {
			return s.classify("list", prefix, err)
		}
		for _, a := range page {
			key := strings.TrimPrefix(a.Name, s.prefix)
			if a.Name == "" || key <= after || !strings.HasPrefix(key, prefix) || backends.ValidKey(key) != nil {
				continue
			}
			if err := fn(backends.ObjectInfo{Key: key, Size: a.Size, ModTime: modTime(a)}); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		token = next
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %s: %w", prefix, s, err)
		}
	}
}

// Delete implements backends.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("delete %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	err := s.bucket.Object(s.prefix + key).Delete(ctx)
	if err = s.classify("delete", key, err); backends.IsNotFound(err) {
		return nil
	}
	return err
}
