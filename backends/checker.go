package backends

import "context"

// Checker is implemented by stores that can test, before any data moves,
// that they are usable: the endpoint answers, the credentials are accepted
// and the bucket or container exists. storeurl.Open calls it so a bad store
// fails at start-up with one clear line instead of on the first upload.
type Checker interface {
	// Check returns nil when the store is reachable and usable. Its error
	// names the store (never credentials) and says what to fix; errors that
	// retrying cannot fix (missing bucket, refused credentials) satisfy
	// IsPermanent.
	Check(ctx context.Context) error
}
