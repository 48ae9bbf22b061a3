package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

var _ backends.Swapper = (*Store)(nil)

// PutIf implements backends.Swapper with one Put Blob carrying
// If-None-Match: * (match == "") or If-Match: ETag. The service's 409
// BlobAlreadyExists / 412 ConditionNotMet (or 404 for an If-Match on a
// missing blob) is the only judge: nothing is checked before.
func (s *Store) PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (string, error) {
	if err := backends.CheckSwap(key, size); err != nil {
		return "", err
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	b, err := backends.ReadSwapBody(ctx, key, r, size)
	if err != nil {
		return "", err
	}
	cond := createOnly()
	if match != "" {
		etag := azcore.ETag(match)
		cond = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}}
	}
	sum := md5.Sum(b)
	resp, err := s.container.NewBlockBlobClient(s.prefix+key).Upload(ctx, streaming.NopCloser(bytes.NewReader(b)), &blockblob.UploadOptions{
		Tier:                    s.tier,
		AccessConditions:        cond,
		TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
	})
	if err != nil {
		code, _ := status(err)
		if code == 412 || code == 409 || bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) ||
			match != "" && (code == 404 || bloberror.HasCode(err, bloberror.BlobNotFound)) {
			return "", backends.Conflict(key, match)
		}
		return "", s.classify("put-if", key, err)
	}
	if resp.ETag == nil || *resp.ETag == "" {
		return "", backends.Permanent(fmt.Errorf("put-if %s: %s answered without an ETag: conditional writes need one", key, s))
	}
	return string(*resp.ETag), nil
}

// GetVersion implements backends.Swapper: one Get Blob, its body and ETag.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := backends.ValidKey(key); err != nil {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	resp, err := s.container.NewBlobClient(s.prefix+key).DownloadStream(ctx, nil)
	if err != nil {
		return nil, "", s.classify("get-version", key, err)
	}
	defer resp.Body.Close()
	b, err := backends.ReadSwapObject(key, resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.ETag == nil || *resp.ETag == "" {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %s answered without an ETag", key, s))
	}
	return b, string(*resp.ETag), nil
}
