package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// createOnly is If-None-Match: *.
func createOnly() *blob.AccessConditions {
	any := azcore.ETagAny
	return &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &any}}
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
	bb := s.container.NewBlockBlobClient(s.prefix + key)
	if size <= s.opt.SinglePutMax {
		sum, err := objio.CheckedMD5(ctx, r, size)
		if err != nil {
			if errors.Is(err, objio.ErrShortBody) {
				err = backends.Permanent(err)
			}
			return fmt.Errorf("put %s: %w", key, err)
		}
		_, err = bb.Upload(ctx, streaming.NopCloser(objio.NewSizedReader(r, size)), &blockblob.UploadOptions{
			Tier:                    s.tier,
			AccessConditions:        createOnly(),
			TransactionalValidation: blob.TransferValidationTypeMD5(sum),
		})
		return s.classify("put", key, err)
	}
	if err := objio.CheckLen(r, size); err != nil {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	// Staging blocks of an object that exists only to be refused at commit
	// wastes the upload: ask first. The conditional commit stays the guard.
	if !s.skipStat {
		if _, err := bb.GetProperties(ctx, nil); err == nil {
			return fmt.Errorf("put %s: %w", key, backends.ErrExists)
		} else if err := s.classify("put", key, err); !backends.IsNotFound(err) {
			return err
		}
	}
	err := s.putStaged(ctx, bb, objio.NewSizedReader(r, size), size)
	if errors.Is(err, objio.ErrShortBody) {
		return backends.Permanent(fmt.Errorf("put %s: %w", key, err))
	}
	return s.classify("put", key, err)
}

// putStaged uploads r as blocks of BlockSize, Concurrency at a time, each
// with a Content-MD5 the service verifies, then commits the list with
// If-None-Match: *. (azblob's UploadStream can only checksum blocks with
// CRC64, which Azurite rejects with 500 FeatureNotSupported, and its
// UploadBuffer/UploadFile drop the access conditions on the commit.) Block
// ids carry a random upload id, so concurrent writers of one name never mix
// blocks; uncommitted blocks are invisible and expire on their own.
func (s *Store) putStaged(ctx context.Context, bb *blockblob.Client, r io.Reader, size int64) error {
	var uid [8]byte
	if _, err := rand.Read(uid[:]); err != nil {
		return err
	}
	bs := s.opt.BlockSize
	n := int((size + bs - 1) / bs)
	ids := make([]string, n)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(sctx)
	g.SetLimit(s.opt.Concurrency)
	for i := range n {
		buf := make([]byte, min(bs, size-int64(i)*bs))
		if _, err := io.ReadFull(r, buf); err != nil {
			cancel()
			g.Wait()
			return fmt.Errorf("read body: %w", err)
		}
		if gctx.Err() != nil {
			break // a block failed; Wait reports it
		}
		sum := md5.Sum(buf)
		ids[i] = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%x-%08d", uid, i))
		g.Go(func() error {
			_, err := bb.StageBlock(gctx, ids[i], streaming.NopCloser(bytes.NewReader(buf)), &blockblob.StageBlockOptions{
				TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		Tier:             s.tier,
		AccessConditions: createOnly(),
	})
	return err
}

// Get implements backends.Store.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := objio.CheckGet(key, offset); err != nil {
		return nil, err
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	if length == 0 {
		defer cancel()
		return objio.GetNothing(ctx, key, s.Stat)
	}
	bc := s.container.NewBlobClient(s.prefix + key)
	rng := blob.HTTPRange{Offset: offset}
	if length > 0 {
		rng.Count = length
	}
	resp, err := bc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: rng})
	if err != nil {
		defer cancel()
		if code, _ := status(err); code == 416 {
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
	body := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3})
	return objio.ReadCloser{Reader: body, CloseFn: func() error {
		err := body.Close()
		cancel()
		return err
	}}, nil
}

// Stat implements backends.Store.
func (s *Store) Stat(ctx context.Context, key string) (backends.ObjectInfo, error) {
	if err := backends.ValidKey(key); err != nil {
		return backends.ObjectInfo{}, backends.Permanent(fmt.Errorf("stat %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	p, err := s.container.NewBlobClient(s.prefix+key).GetProperties(ctx, nil)
	if err != nil {
		return backends.ObjectInfo{}, s.classify("stat", key, err)
	}
	oi := backends.ObjectInfo{Key: key}
	if p.ContentLength != nil {
		oi.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		oi.ModTime = p.LastModified.UTC()
	}
	return oi, nil
}

// List implements backends.Store with the flat pager; `after` is applied by
// skipping (see the package doc). Timeout bounds each page.
func (s *Store) List(ctx context.Context, prefix, after string, fn func(backends.ObjectInfo) error) error {
	if err := backends.ValidPrefix(prefix); err != nil {
		return backends.Permanent(fmt.Errorf("list %s: %w", prefix, err))
	}
	full := s.prefix + prefix
	pager := s.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full})
	for pager.More() {
		pctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
		page, err := pager.NextPage(pctx)
		cancel()
		if err != nil {
			return s.classify("list", prefix, err)
		}
		if page.Segment == nil {
			continue
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil {
				continue
			}
			key := strings.TrimPrefix(*it.Name, s.prefix)
			if key <= after || !strings.HasPrefix(key, prefix) || backends.ValidKey(key) != nil {
				continue
			}
			oi := backends.ObjectInfo{Key: key}
			if p := it.Properties; p != nil {
				if p.ContentLength != nil {
					oi.Size = *p.ContentLength
				}
				if p.LastModified != nil {
					oi.ModTime = p.LastModified.UTC()
				}
			}
			if err := fn(oi); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements backends.Store (with the blob's snapshots, if any).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := backends.ValidKey(key); err != nil {
		return backends.Permanent(fmt.Errorf("delete %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	incl := blob.DeleteSnapshotsOptionTypeInclude
	_, err := s.container.NewBlobClient(s.prefix+key).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: &incl})
	if err = s.classify("delete", key, err); backends.IsNotFound(err) {
		return nil
	}
	return err
}
