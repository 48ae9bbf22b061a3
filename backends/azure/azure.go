// Package azure is the backends.Store for Azure Blob Storage (and the
// Azurite emulator) built on azblob.
//
// Credentials come from Options or, when Options name none, from the
// environment: AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN; the service URL defaults to
// https://ACCOUNT.blob.core.windows.net/. Never from a store URL.
//
// Objects up to SinglePutMax (64 MiB) go in one Put Blob with a Content-MD5 the service
// verifies; larger ones are staged as blocks (Put Block, each with its own
// Content-MD5) and committed with one Put Block List, so nothing is visible until the
// commit and a failed upload leaves only uncommitted blocks, which the
// service discards (after a week) and no listing shows. Both carry
// If-None-Match: *, so an existing blob is never replaced (409
// BlobAlreadyExists / 412 ConditionNotMet become backends.ErrExists).
//
// List walks the prefix with the flat pager and implements `after` by
// skipping: Azure's continuation markers are opaque, so a listing cannot
// start at a given name. (azblob's StartFrom needs service version
// 2026-02-06 and is not honoured by Azurite 3.35, so its semantics could not
// be tested here.) A seek therefore costs one page per 5,000 earlier keys.
package azure

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/internal/objio"
)

// Defaults for Options.
const (
	DefaultBlockSize   = 8 << 20
	DefaultConcurrency = 4
	// DefaultSinglePutMax is the largest object sent in one Put Blob by
	// default: above a sealed segment's size (16 MiB of entries and its
	// header, more when compression is off), so that shipping one costs
	// one request, not staged blocks and a commit (three or more).
	DefaultSinglePutMax = 64 << 20
	checkRetries        = 1
)

// Options configure a Store. Container is required; credentials come from
// here or the environment (see the package doc).
type Options struct {
	Container string
	Prefix    string
	// ConnectionString, or Account with Key or SASToken.
	ConnectionString string
	Account, Key     string
	SASToken         string
	// Endpoint is the blob service URL (default
	// https://ACCOUNT.blob.core.windows.net/); for Azurite
	// http://127.0.0.1:10000/devstoreaccount1. Not combinable with a
	// connection string, which names its own.
	Endpoint string
	// SinglePutMax: objects up to this size go in one Put Blob, streamed
	// from the body (default DefaultSinglePutMax; never below BlockSize;
	// at most 5000 MiB, the service's limit).
	SinglePutMax int64
	// BlockSize: larger objects go in staged blocks of this size (default
	// DefaultBlockSize, at least 1 MiB). Each large upload buffers up to
	// Concurrency*BlockSize bytes.
	BlockSize int64
	// Concurrency is the number of blocks staged at once.
	Concurrency int
	// Tier is the access tier of new blobs: "", Hot, Cool or Cold. (Archive
	// is refused: archived blobs cannot be read without rehydration.)
	Tier string
	// Timeout bounds each Store call (a Get until its body is closed). 0:
	// only the caller's context.
	Timeout time.Duration
	// MaxRetries is how often azcore retries a failed request (0: its
	// default of 3; < 0: never). RetryDelay is its initial back-off.
	MaxRetries int32
	RetryDelay time.Duration
}

// Store is an Azure blob container seen through a name prefix.
type Store struct {
	opt       Options
	prefix    string
	container *container.Client
	check     *container.Client // few retries: start-up should fail fast
	tier      *blob.AccessTier
	where     string // service URL for messages, without query
	skipStat  bool   // tests: prove the service refuses the commit
}

var (
	_ backends.Store   = (*Store)(nil)
	_ backends.Checker = (*Store)(nil)
)

// FromEnv fills the credential fields of o that are empty from the
// AZURE_STORAGE_* environment variables, if o names no credentials at all.
func (o *Options) FromEnv() {
	if o.ConnectionString != "" || o.Key != "" || o.SASToken != "" {
		return
	}
	o.ConnectionString = os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
	if o.Account == "" {
		o.Account = os.Getenv("AZURE_STORAGE_ACCOUNT")
	}
	o.Key = os.Getenv("AZURE_STORAGE_KEY")
	o.SASToken = os.Getenv("AZURE_STORAGE_SAS_TOKEN")
}

// New builds a Store, taking credentials from the environment when opt has
// none. It does not contact the service; call Check for that.
func New(opt Options) (*Store, error) {
	if opt.Container == "" {
		return nil, backends.Permanent(errors.New("azblob: no container given"))
	}
	if err := backends.ValidPrefix(strings.Trim(opt.Prefix, "/")); err != nil {
		return nil, backends.Permanent(fmt.Errorf("azblob: %w", err))
	}
	if opt.BlockSize == 0 {
		opt.BlockSize = DefaultBlockSize
	}
	if opt.BlockSize < 1<<20 || opt.BlockSize > 4000<<20 {
		return nil, backends.Permanent(fmt.Errorf("azblob: block size %d outside 1 MiB..4000 MiB", opt.BlockSize))
	}
	if opt.SinglePutMax == 0 {
		opt.SinglePutMax = DefaultSinglePutMax
	}
	opt.SinglePutMax = max(opt.SinglePutMax, opt.BlockSize)
	if opt.SinglePutMax > 5000<<20 {
		return nil, backends.Permanent(fmt.Errorf("azblob: single put limit %d above the service's 5000 MiB", opt.SinglePutMax))
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	var tier *blob.AccessTier
	switch strings.ToLower(opt.Tier) {
	case "":
	case "hot", "cool", "cold":
		t := blob.AccessTier(strings.ToUpper(opt.Tier[:1]) + strings.ToLower(opt.Tier[1:]))
		tier = &t
	case "archive":
		return nil, backends.Permanent(errors.New("azblob: tier Archive is refused: archived blobs cannot be read back without rehydration; use Hot, Cool or Cold"))
	default:
		return nil, backends.Permanent(fmt.Errorf("azblob: unknown access tier %q: use Hot, Cool or Cold", opt.Tier))
	}
	opt.FromEnv()
	if opt.Endpoint != "" {
		u, err := url.Parse(opt.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, backends.Permanent(fmt.Errorf("azblob: endpoint must look like https://ACCOUNT.blob.core.windows.net/, got %q", redact(opt.Endpoint)))
		}
		if u.User != nil || u.RawQuery != "" {
			return nil, backends.Permanent(errors.New("azblob: credentials in the endpoint URL are refused: put them in AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN"))
		}
	}
	serviceURL := opt.Endpoint
	if serviceURL == "" && opt.Account != "" {
		serviceURL = "https://" + opt.Account + ".blob.core.windows.net/"
	}
	mk := func(retries int32) (*azblob.Client, error) {
		co := &azblob.ClientOptions{}
		co.Retry = policy.RetryOptions{MaxRetries: retries, RetryDelay: opt.RetryDelay}
		if opt.RetryDelay > 0 {
			co.Retry.MaxRetryDelay = 8 * opt.RetryDelay
		}
		switch {
		case opt.ConnectionString != "" && opt.Endpoint == "":
			return azblob.NewClientFromConnectionString(opt.ConnectionString, co)
		case opt.Account != "" && opt.Key != "":
			cred, err := azblob.NewSharedKeyCredential(opt.Account, opt.Key)
			if err != nil {
				return nil, fmt.Errorf("AZURE_STORAGE_KEY is not a valid account key (%v)", errors.Unwrap(err))
			}
			return azblob.NewClientWithSharedKeyCredential(serviceURL, cred, co)
		case opt.SASToken != "" && serviceURL != "":
			return azblob.NewClientWithNoCredential(strings.TrimSuffix(serviceURL, "/")+"/?"+strings.TrimPrefix(opt.SASToken, "?"), co)
		case opt.ConnectionString != "":
			return nil, errors.New("endpoint= cannot be combined with AZURE_STORAGE_CONNECTION_STRING, which names its own BlobEndpoint; " +
				"set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (or AZURE_STORAGE_SAS_TOKEN) instead")
		}
		return nil, errors.New("no credentials: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN")
	}
	name := "azblob://" + opt.Container
	client, err := mk(opt.MaxRetries)
	if err != nil {
		return nil, backends.Permanent(fmt.Errorf("%s: %s", name, redactErr(err)))
	}
	check, err := mk(checkRetries)
	if err != nil {
		return nil, backends.Permanent(fmt.Errorf("%s: %s", name, redactErr(err)))
	}
	cc := client.ServiceClient().NewContainerClient(opt.Container)
	return &Store{
		opt:       opt,
		prefix:    objio.NormPrefix(opt.Prefix),
		container: cc,
		check:     check.ServiceClient().NewContainerClient(opt.Container),
		tier:      tier,
		where:     redact(client.URL()),
	}, nil
}

// ContainerClient returns the underlying container client (tests, tools).
func (s *Store) ContainerClient() *container.Client { return s.container }

// Prefix returns the name prefix, "" or ending in '/'.
func (s *Store) Prefix() string { return s.prefix }

// String implements backends.Store: azblob://container/prefix.
func (s *Store) String() string {
	if s.prefix == "" {
		return "azblob://" + s.opt.Container
	}
	return "azblob://" + s.opt.Container + "/" + strings.TrimSuffix(s.prefix, "/")
}

// Close implements backends.Store.
func (s *Store) Close() error { return nil }

// redact keeps scheme://host/path of a URL: a SAS token lives in the query.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// redactErr renders err on one line without URLs' queries (SAS tokens).
func redactErr(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redact(ue.URL) + ": " + redactErr(ue.Err)
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func status(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

const credHint = "check AZURE_STORAGE_KEY / AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_SAS_TOKEN (expired SAS?) and the account name"

// classify maps an azblob error onto the backends sentinels, on one line and
// without SAS tokens, keeping the SDK error in the chain.
func (s *Store) classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := op + " " + key
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return objio.Reword(fmt.Sprintf("%s: %s: %s", what, s, redactErr(err)), err)
	}
	code, ecode := status(err)
	msg := redactErr(err)
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: %s: container %q does not exist at %s: create it (e.g. `az storage container create -n %s`) or fix the store URL",
			what, s, s.opt.Container, s.where, s.opt.Container), err))
	case bloberror.HasCode(err, bloberror.BlobNotFound) || code == 404:
		return fmt.Errorf("%s: %w", what, backends.ErrNotFound)
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) || code == 412:
		return fmt.Errorf("%s: %w", what, backends.ErrExists)
	case bloberror.HasCode(err, bloberror.AuthenticationFailed, bloberror.AuthorizationFailure,
		bloberror.AuthorizationPermissionMismatch, bloberror.InsufficientAccountPermissions,
		bloberror.AuthorizationResourceTypeMismatch, bloberror.AuthorizationSourceIPMismatch) || code == 403:
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: %s: access denied (%s): %s", what, s, ecode, credHint), err))
	case code == 416 || bloberror.HasCode(err, bloberror.InvalidRange, bloberror.OutOfRangeInput,
		bloberror.InvalidResourceName, bloberror.UnsupportedHeader, "FeatureNotSupported"):
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: %s: %s", what, s, msg), err))
	}
	return objio.Reword(fmt.Sprintf("%s: %s: %s", what, s, msg), err)
}

// Check implements backends.Checker: the container's properties answer.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := objio.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	_, err := s.check.GetProperties(ctx, nil)
	if err == nil {
		return nil
	}
	code, ecode := status(err)
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound) || code == 404:
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: container %q does not exist at %s: create it (e.g. `az storage container create -n %s`) or fix the store URL",
			s, s.opt.Container, s.where, s.opt.Container), err))
	case code == 403 || bloberror.HasCode(err, bloberror.AuthenticationFailed, bloberror.AuthorizationFailure):
		return backends.Permanent(objio.Reword(fmt.Sprintf("%s: access denied (%s) at %s: %s", s, codeOr(ecode, code), s.where, credHint), err))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return objio.Reword(fmt.Sprintf("%s: no answer from %s in time: is the service up and the endpoint right? (%s)", s, s.where, redactErr(err)), err)
	case code == 0:
		return objio.Reword(fmt.Sprintf("%s: cannot reach %s: is the service up and the endpoint right? (%s)", s, s.where, redactErr(err)), err)
	}
	return objio.Reword(fmt.Sprintf("%s: checking container %s at %s failed: %s", s, s.opt.Container, s.where, redactErr(err)), err)
}

func codeOr(code string, status int) string {
	if code != "" {
		return code
	}
	return fmt.Sprintf("HTTP %d", status)
}
