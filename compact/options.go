package compact

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// Options tune compaction. The zero value means the defaults.
type Options struct {
	// Levels are the merge windows, shortest first; each must be a whole
	// multiple of the one before. Default: 1m, 1h.
	Levels []time.Duration
	// Delay is how long after a window ends its segments are merged, for
	// late segments to arrive. Default 1m.
	Delay time.Duration
	// MaxBytes bounds the stored bytes of the inputs of one output.
	// Default 256 MiB.
	MaxBytes int64
	// Grace is how long an output exists before the segments it contains
	// are deleted, for restores planned before it to finish. Default 1h;
	// negative: at once.
	Grace time.Duration
	// Codec of the outputs (the zero value is CodecNone: callers choose).
	Codec segments.Codec
	// Identities open encrypted segments (inputs, and containers compared
	// before their contents are deleted). Recipients, when given, seal
	// every output (segment format 2, encrypted to them). A run holding an
	// encrypted segment is merged only with both: an identity that opens
	// each of its segments and recipients to seal the output to (never
	// into plaintext); otherwise it is skipped for good, as by an agent,
	// which holds no identity.
	Identities []*crypt.Identity
	Recipients []*crypt.Recipient
	// TempDir holds an output while it is built. Default os.TempDir().
	TempDir string
	// DryRun plans and reports, reads and writes nothing.
	DryRun bool
	// Log gets one line per output stored and per batch deleted.
	Log *slog.Logger
	// ListBatch bounds the segments a pass holds at once (memory); a longer
	// history is worked through in batches. Default 20,000.
	ListBatch int
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultDelay    = time.Minute
	DefaultMaxBytes = 256 << 20
	DefaultGrace    = time.Hour
)

// DefaultLevels are minute and hour windows.
var DefaultLevels = []time.Duration{time.Minute, time.Hour}

func (o Options) withDefaults() Options {
	if len(o.Levels) == 0 {
		o.Levels = DefaultLevels
	}
	if o.Delay <= 0 {
		o.Delay = DefaultDelay
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	switch {
	case o.Grace == 0:
		o.Grace = DefaultGrace
	case o.Grace < 0:
		o.Grace = 0
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ListBatch <= 0 {
		o.ListBatch = 20000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports options no pass can work with.
func (o Options) Validate() error {
	for i, l := range o.Levels {
		if l < time.Second {
			return fmt.Errorf("compaction level %v: a window must be at least 1s", l)
		}
		if i > 0 && (l <= o.Levels[i-1] || l%o.Levels[i-1] != 0) {
			return fmt.Errorf("compaction levels %v: each window must be a whole multiple of the one before, longer than it", o.Levels)
		}
	}
	if o.MaxBytes < 0 || o.Delay < 0 {
		return fmt.Errorf("compaction: max_bytes and delay must not be negative")
	}
	if len(o.Recipients) > 0 && !opens(o.Identities, o.Recipients) {
		return fmt.Errorf("compaction: sealing merged segments to %v needs an identity for one of them: without it the merged segments cannot be compared with what they hold, which then is never deleted", crypt.Fingerprints(o.Recipients))
	}
	if slices.Contains([]segments.Codec{segments.CodecNone, segments.CodecZstd}, o.Codec) {
		return nil
	}
	return fmt.Errorf("compaction: unknown codec %d", o.Codec)
}

// opens reports whether ids hold an identity for one of rs.
func opens(ids []*crypt.Identity, rs []*crypt.Recipient) bool {
	sealed := crypt.Fingerprints(rs)
	for _, fp := range crypt.IdentityFingerprints(ids) {
		if slices.Contains(sealed, fp) {
			return true
		}
	}
	return false
}
