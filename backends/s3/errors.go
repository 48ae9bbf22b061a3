package s3

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// checkAttempts bounds HeadBucket retries in Check: start-up should say
// quickly that an endpoint is unreachable.
const checkAttempts = 2

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// classify wraps an SDK error with the operation and key and maps it onto
// the backends sentinels: not-found, exists, and permanent (with what to do).
// 5xx, throttling, timeouts and connection errors stay transient.
func (s *Store) classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := op + " " + key
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: %w", what, s, err)
	}
	code, status := apiCode(err), httpStatus(err)
	switch {
	case code == "NoSuchBucket":
		return backends.Permanent(fmt.Errorf("%s: %s: bucket %q does not exist at %s: create bucket %s or fix the store URL: %w",
			what, s, s.opt.Bucket, s.endpointName(), s.opt.Bucket, err))
	case code == "NoSuchKey" || code == "NotFound" || status == 404:
		return fmt.Errorf("%s: %w", what, backends.ErrNotFound)
	case code == "PreconditionFailed" || status == 412:
		return fmt.Errorf("%s: %w", what, backends.ErrExists)
	case code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
		code == "Forbidden" || code == "ExpiredToken" || code == "InvalidToken" || status == 403:
		return backends.Permanent(fmt.Errorf("%s: %s: access denied (%s): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "+
			"(or the AWS credential chain) and the bucket policy: %w", what, s, codeOr(code, status), err))
	case code == "InvalidBucketName":
		return backends.Permanent(fmt.Errorf("%s: %s: invalid bucket name %q: %w", what, s, s.opt.Bucket, err))
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || status == 301:
		return backends.Permanent(fmt.Errorf("%s: %s: the bucket is in another region than %q: set region= in the store URL or AWS_REGION: %w",
			what, s, s.opt.Region, err))
	case code == "InvalidRange" || status == 416 || code == "NotImplemented" || status == 501 ||
		code == "InvalidStorageClass" || code == "KMS.NotFoundException":
		return backends.Permanent(fmt.Errorf("%s: %s: %w", what, s, err))
	}
	return fmt.Errorf("%s: %s: %w", what, s, err)
}

func codeOr(code string, status int) string {
	if code != "" {
		return code
	}
	return fmt.Sprintf("HTTP %d", status)
}

// Check implements backends.Checker: credentials resolve, the endpoint
// answers and HeadBucket succeeds. Its error is one line naming the store and
// what to do, never a credential.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	if _, err := s.creds.Retrieve(ctx); err != nil {
		return backends.Permanent(fmt.Errorf("%s: no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "+
			"(or AWS_PROFILE / an instance role): %v", s, rootCause(err)))
	}
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.opt.Bucket}, func(o *s3.Options) {
		o.RetryMaxAttempts = checkAttempts
	})
	if err == nil {
		return nil
	}
	code, status := apiCode(err), httpStatus(err)
	switch {
	case code == "NoSuchBucket" || code == "NotFound" || status == 404:
		return backends.Permanent(fmt.Errorf("%s: bucket %q does not exist at %s: create bucket %s (e.g. `aws s3 mb s3://%s`, `mc mb`) or fix the store URL",
			s, s.opt.Bucket, s.endpointName(), s.opt.Bucket, s.opt.Bucket))
	case status == 403 || code == "AccessDenied" || code == "Forbidden" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		return backends.Permanent(fmt.Errorf("%s: access denied (%s) at %s: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the AWS credential chain) "+
			"and that they may use bucket %s", s, codeOr(code, status), s.endpointName(), s.opt.Bucket))
	case status == 301 || code == "PermanentRedirect" || status == 400 && code == "BadRequest":
		return backends.Permanent(fmt.Errorf("%s: bucket %s did not answer in region %q (%s): set region= in the store URL or AWS_REGION",
			s, s.opt.Bucket, s.opt.Region, codeOr(code, status)))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: no answer from %s in time: is the server up and the endpoint right? (%v)", s, s.endpointName(), rootCause(err))
	}
	var ne net.Error
	if errors.As(err, &ne) || status == 0 {
		return fmt.Errorf("%s: cannot reach %s: is the server up and the endpoint right? (%v)", s, s.endpointName(), rootCause(err))
	}
	return fmt.Errorf("%s: checking bucket %s at %s failed (%s): %v", s, s.opt.Bucket, s.endpointName(), codeOr(code, status), rootCause(err))
}

// rootCause returns the innermost network error, or err: the SDK's chain
// repeats the operation name and request ids a user does not need.
func rootCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	return err
}
