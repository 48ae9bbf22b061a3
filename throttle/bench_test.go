package throttle

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkAccuracy streams through one download limit at three settings and
// reports the achieved rate next to the configured one (ratio 1.00 is
// exact). Each op moves a tenth of a second's worth of bytes; the initial
// burst is spent before timing starts, so the figure is the steady rate.
// It is a measurement, not a test: run with -bench Accuracy, and -benchtime
// 5s or more for a tighter figure.
func BenchmarkAccuracy(b *testing.B) {
	for _, bps := range []int64{1 << 20, 8 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("rate=%dMiB", bps>>20), func(b *testing.B) {
			l, err := New(Config{DownloadBytesPerSec: bps})
			if err != nil {
				b.Fatal(err)
			}
			r := Reader(context.Background(), zeros{}, l)
			buf := make([]byte, 256<<10)
			_, burst := byteLimit(bps)
			if _, err := io.CopyBuffer(io.Discard, io.LimitReader(r, int64(burst)), buf); err != nil {
				b.Fatal(err)
			}
			per := bps / burstDivisor
			b.SetBytes(per)
			var moved int64
			start := time.Now()
			for b.Loop() {
				n, err := io.CopyBuffer(io.Discard, io.LimitReader(r, per), buf)
				if err != nil {
					b.Fatal(err)
				}
				moved += n
			}
			measured := float64(moved) / time.Since(start).Seconds()
			b.ReportMetric(measured, "measured-B/s")
			b.ReportMetric(float64(bps), "configured-B/s")
			b.ReportMetric(measured/float64(bps), "ratio")
		})
	}
}
