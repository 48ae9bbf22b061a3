package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// MaxSwapSize bounds the objects Swapper handles: small records (a lease),
// sent in one request and read whole into memory.
const MaxSwapSize = 1 << 20

// Swapper is implemented by stores that can replace an object only if it is
// still the version the caller last read (compare-and-swap), the one
// operation Store itself never offers: Store.Put never overwrites. walship
// uses it for the lease object that keeps two agents off one prefix; every
// other object stays create-only.
//
// Decorators implement Swapper whatever they wrap, and answer with an error
// satisfying errors.Is(err, errors.ErrUnsupported) when the store they wrap
// has no such capability. Use AsSwapper to ask.
type Swapper interface {
	// PutIf stores size bytes (at most MaxSwapSize) read from r under key
	// if the condition holds, and returns the new version:
	//
	//	match == "": the key must not exist (If-None-Match: *);
	//	otherwise:   the key must exist with exactly this version (If-Match).
	//
	// The check and the write are one atomic step in the store: of several
	// callers racing with the same match, at most one succeeds. A failed
	// condition returns an error satisfying errors.Is(err, ErrConflict)
	// (and, when match == "", ErrExists too) and leaves the object as it
	// was; so does a failed or cancelled call. Like Put, it is durable and
	// all-or-nothing when it returns nil.
	PutIf(ctx context.Context, key string, r io.ReadSeeker, size int64, match string) (version string, err error)

	// GetVersion reads the whole object at key (at most MaxSwapSize bytes)
	// and the version a later PutIf must match to replace it. A missing key
	// returns an ErrNotFound error. Versions are opaque: equal versions mean
	// equal contents, nothing more (S3 and MinIO ETags, Azure ETags, a
	// content hash in the file and memory stores).
	GetVersion(ctx context.Context, key string) (data []byte, version string, err error)
}

// ErrConflict: a conditional write found the object in another state than
// its condition demanded (changed since it was read, deleted, or already
// created). Retrying the same call cannot succeed: read again first.
var ErrConflict = errors.New("object changed: condition not met")

// IsConflict reports whether err says a conditional write lost a race.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// conflictError matches ErrConflict, ErrPermanent and, for a create-only
// condition, ErrExists.
type conflictError struct {
	msg    string
	create bool
}

func (e conflictError) Error() string { return e.msg }
func (e conflictError) Unwrap() []error {
	if e.create {
		return []error{ErrConflict, ErrExists, ErrPermanent}
	}
	return []error{ErrConflict, ErrPermanent}
}

// Conflict is the error a Swapper returns when PutIf's condition fails for
// key: it names the operation, the key and the condition, and matches
// ErrConflict (plus ErrExists for match == ""), and IsPermanent.
func Conflict(key, match string) error {
	if match == "" {
		return conflictError{msg: fmt.Sprintf("put-if %s: the object exists already: %v", key, ErrConflict), create: true}
	}
	return conflictError{msg: fmt.Sprintf("put-if %s: the object is no longer version %s: %v", key, match, ErrConflict)}
}

// AsSwapper returns st's Swapper, if st has one. A decorator over a store
// without the capability still satisfies the interface; its calls then
// fail with errors.ErrUnsupported, which callers must treat like ok ==
// false.
func AsSwapper(st Store) (Swapper, bool) {
	s, ok := st.(Swapper)
	return s, ok
}

// Unsupported is the error a decorator returns from a Swapper method when
// the store it wraps cannot swap.
func Unsupported(op string, st Store) error {
	return Permanent(fmt.Errorf("%s: %s offers no conditional writes: %w", op, st, errors.ErrUnsupported))
}

// CheckSwap validates PutIf's arguments the same way in every store.
func CheckSwap(key string, size int64) error {
	if err := ValidKey(key); err != nil {
		return Permanent(fmt.Errorf("put-if %s: %w", key, err))
	}
	if size < 0 || size > MaxSwapSize {
		return Permanent(fmt.Errorf("put-if %s: size %d outside 0..%d bytes", key, size, MaxSwapSize))
	}
	return nil
}

// ReadSwapBody reads exactly size bytes of r (PutIf's body) into memory,
// honouring ctx.
func ReadSwapBody(ctx context.Context, key string, r io.Reader, size int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put-if %s: %w", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return nil, fmt.Errorf("put-if %s: read body: %w", key, err)
	}
	if int64(len(b)) != size {
		return nil, Permanent(fmt.Errorf("put-if %s: body has %d bytes, want %d", key, len(b), size))
	}
	return b, nil
}

// ReadSwapObject reads a whole GetVersion object, refusing more than
// MaxSwapSize bytes.
func ReadSwapObject(key string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSwapSize+1))
	if err != nil {
		return nil, fmt.Errorf("get-version %s: read: %w", key, err)
	}
	if len(b) > MaxSwapSize {
		return nil, Permanent(fmt.Errorf("get-version %s: object exceeds %d bytes: not a record walship swaps", key, MaxSwapSize))
	}
	return b, nil
}
