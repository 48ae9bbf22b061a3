package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

var _ backends.Swapper = (*Store)(nil)

// PutIf implements backends.Swapper with one PutObject carrying
// If-None-Match: * (match == "") or If-Match: ETag. Nothing is checked
// before the request: the server's answer (412, or 404 for an If-Match on
// a missing key) is the only judge, so a server that ignores the headers
// fails the conformance race test instead of being papered over.
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
	full := s.prefix + key
	in := s.putInput(full, bytes.NewReader(b), true)
	in.ContentLength = aws.Int64(size)
	sum := md5.Sum(b)
	in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	if match != "" {
		in.IfNoneMatch = nil
		in.IfMatch = aws.String(match)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		if code, status := apiCode(err), httpStatus(err); code == "PreconditionFailed" || status == 412 ||
			match != "" && (code == "NoSuchKey" || status == 404) || code == "ConditionalRequestConflict" || status == 409 {
			return "", backends.Conflict(key, match)
		}
		return "", s.classify("put-if", key, err)
	}
	if out.ETag == nil || *out.ETag == "" {
		return "", backends.Permanent(fmt.Errorf("put-if %s: %s answered without an ETag: conditional writes need one", key, s))
	}
	return *out.ETag, nil
}

// GetVersion implements backends.Swapper: one GetObject, its body and ETag.
func (s *Store) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := backends.ValidKey(key); err != nil {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %w", key, err))
	}
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	full := s.prefix + key
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.opt.Bucket, Key: &full})
	if err != nil {
		return nil, "", s.classify("get-version", key, err)
	}
	defer out.Body.Close()
	b, err := backends.ReadSwapObject(key, out.Body)
	if err != nil {
		return nil, "", err
	}
	if out.ETag == nil || *out.ETag == "" {
		return nil, "", backends.Permanent(fmt.Errorf("get-version %s: %s answered without an ETag", key, s))
	}
	return b, *out.ETag, nil
}
