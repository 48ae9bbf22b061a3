package throttle

import (
	"errors"
	"fmt"
	"math"

	"golang.org/x/time/rate"
)

// Config is one set of limits: a store's own, or the global one shared by
// every store. A zero field means unlimited.
type Config struct {
	// UploadBytesPerSec limits Put bodies.
	UploadBytesPerSec int64
	// DownloadBytesPerSec limits Get bodies and Reader.
	DownloadBytesPerSec int64
	// RequestsPerSec limits calls of every kind (Put, Get, Stat, List,
	// Delete, Check); one List call is one request however many pages it
	// reads.
	RequestsPerSec float64
	// BulkUploadBytesPerSec is an extra cap on Low priority uploads
	// (backlog, snapshots), on top of UploadBytesPerSec, so bulk work leaves
	// headroom on the link even when no WAL is waiting.
	BulkUploadBytesPerSec int64
}

// Validate reports a negative or non-finite limit. Zero is valid: unlimited.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"upload_bytes_per_sec", c.UploadBytesPerSec},
		{"download_bytes_per_sec", c.DownloadBytesPerSec},
		{"bulk_upload_bytes_per_sec", c.BulkUploadBytesPerSec},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("throttle: %s is %d: use a positive rate, or 0 for unlimited", f.name, f.v))
		}
	}
	if r := c.RequestsPerSec; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		errs = append(errs, fmt.Errorf("throttle: requests_per_sec is %v: use a positive rate, or 0 for unlimited", r))
	}
	return errors.Join(errs...)
}

// MaxChunk is the most bytes a throttled reader moves per token wait. It
// bounds how long a Low transfer can keep a High one waiting on the same
// limit: one chunk's worth of time (32 KiB at 1 MiB/s is 31 ms).
const MaxChunk = 32 << 10

// MinBurst is the smallest byte burst. Below 10 KiB/s the tenth-of-a-second
// rule would make chunks so small that each read costs more in scheduling
// than it moves; such low rates are honoured over seconds instead.
const MinBurst = 1 << 10

// burstDivisor sets the burst to 1/burstDivisor of a second's worth of
// tokens. A bucket that starts full lets that much through at once, so over
// a window of w seconds the achieved rate is at most (1 + 1/(10w)) times the
// limit: +10% over one second, +1% over ten.
const burstDivisor = 10

// byteLimit turns a bytes/s setting into a token rate and burst.
func byteLimit(bytesPerSec int64) (rate.Limit, int) {
	if bytesPerSec <= 0 {
		return rate.Inf, MaxChunk
	}
	b := bytesPerSec / burstDivisor // rounded up, without overflowing near MaxInt64
	if bytesPerSec%burstDivisor != 0 {
		b++
	}
	if b < MinBurst {
		b = MinBurst
	}
	return rate.Limit(bytesPerSec), int(min(b, math.MaxInt32))
}

// requestLimit turns a requests/s setting into a token rate and burst.
func requestLimit(perSec float64) (rate.Limit, int) {
	if perSec <= 0 {
		return rate.Inf, 1
	}
	b := math.Ceil(perSec / burstDivisor)
	return rate.Limit(perSec), int(max(1, min(b, math.MaxInt32)))
}
