// Package backends defines Store, the one interface walship uses to talk to an
// object store, the errors stores classify for their callers, and the rules
// for object keys. Implementations live in sub-packages (mem, file, s3, minio,
// azure); storetest holds the conformance suite every one of them must pass;
// storeurl turns a store URL into a Store.
package backends

import (
	"context"
	"errors"
	"io"
	"time"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string    // full key, relative to the store's prefix
	Size    int64     // bytes
	ModTime time.Time // when the store last wrote the object (its clock), in UTC; zero when the store does not say
}

// Store is an object store seen through a key prefix. Keys are relative to the
// store's own prefix and must pass ValidKey.
//
// All methods are safe for concurrent use by several goroutines and honour
// ctx: a cancelled context aborts the call and returns an error wrapping
// ctx.Err().
type Store interface {
	// Put stores size bytes read from r under key.
	//
	// Remote stores refuse a body that does not hold exactly size bytes
	// before sending it where they can (they measure r with Seek), and make
	// the service verify what arrived (a CRC32C or Content-MD5, or
	// per-part checksums).
	//
	// When Put returns nil the stored object is exactly the size bytes read
	// from r: remote stores have the service check them (a digest of the
	// whole body, or a checksum per part), local ones wrote and fsynced them, so callers
	// need not read an object back after a successful Put.
	//
	// It is atomic: until Put returns nil no reader can see the object, and a
	// failed or cancelled Put leaves no object (and no partial one) visible.
	// It never overwrites: if key already exists Put returns an error that
	// satisfies errors.Is(err, ErrExists) and the stored object is unchanged.
	// When Put returns nil the object is durable in the store.
	// r must yield exactly size bytes; implementations may Seek r back to its
	// start to retry, so callers hand in a fresh reader positioned at 0.
	Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error

	// Get opens the object at key for reading, starting at byte offset and
	// returning at most length bytes (length < 0: to the end). A missing key
	// returns an error satisfying errors.Is(err, ErrNotFound). An offset equal
	// to the object's size, or a length of 0, yields an empty reader (after
	// checking the object exists). The caller closes the reader; a store's
	// per-call timeout may run until then.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)

	// Stat returns the object's size, or an ErrNotFound error. It may fill
	// ModTime too (every store in this module does); callers must accept a
	// zero one.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List calls fn for every object whose key starts with prefix and sorts
	// strictly after after (byte-wise), in ascending key order. An empty after
	// starts at the beginning of prefix. Listing pages through the service as
	// needed; it stops with fn's error if fn returns one. Every ObjectInfo
	// it hands to fn carries ModTime, the store's own clock at the object's
	// last write, in UTC (it may differ from the caller's clock).
	List(ctx context.Context, prefix, after string, fn func(ObjectInfo) error) error

	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// String names the store for logs and errors: scheme, bucket and prefix,
	// never credentials.
	String() string

	// Close releases the store's resources.
	Close() error
}

// Sentinel errors. Stores wrap them with the operation and the key, so test
// with errors.Is, never by message.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists: Put found the key already taken.
	ErrExists = errors.New("object already exists")
	// ErrPermanent marks an error that retrying cannot fix (bad credentials,
	// missing bucket, invalid request). See Permanent and IsPermanent.
	ErrPermanent = errors.New("permanent store error")
)

// IsNotFound reports whether err says an object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsExists reports whether err says a Put found its key taken.
func IsExists(err error) bool { return errors.Is(err, ErrExists) }

// permanentError keeps the cause's message and chain while matching
// ErrPermanent.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() []error {
	return []error{e.err, ErrPermanent}
}

// Permanent marks err as one that retrying will not fix.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanentError{err}
}

// IsPermanent reports whether retrying err is pointless. Not-found and
// already-exists answers are permanent too: the store answered clearly.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent) || errors.Is(err, ErrNotFound) ||
		errors.Is(err, ErrExists) || errors.Is(err, context.Canceled)
}
