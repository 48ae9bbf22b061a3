package segments

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstd encoders and decoders own megabytes of tables. A sync.Pool would
// drop them at every GC, and an agent that seals a segment a second between
// GCs would build a new encoder each time, growing the process's memory with
// the log. These caches keep a few for good.
type cache[T any] struct {
	mu    sync.Mutex
	free  []T
	limit int
	make  func() T
}

func (c *cache[T]) Get() T {
	c.mu.Lock()
	if n := len(c.free); n > 0 {
		x := c.free[n-1]
		c.free = c.free[:n-1]
		c.mu.Unlock()
		return x
	}
	c.mu.Unlock()
	return c.make()
}

func (c *cache[T]) Put(x T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.free) < c.limit {
		c.free = append(c.free, x)
	}
}

var encoders = &cache[*zstd.Encoder]{limit: 4, make: func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		// Not WithLowerEncoderMem: on log records it costs a third of
		// the encoder's speed (219 against 294 MB/s per core, measured)
		// to save about a window's worth of memory per cached encoder.
		zstd.WithWindowSize(1<<20),
		// No xxhash64 of the content in the frame: the segment's SHA-256
		// covers the stored bytes and each entry's CRC32C its data, so the
		// frame checksum would check nothing they do not (it cost 4% of
		// sealing). Readers of any version accept frames without it.
		zstd.WithEncoderCRC(false))
	if err != nil {
		panic(err) // only on invalid options
	}
	return enc
}}

var decoders = &cache[*zstd.Decoder]{limit: 8, make: func() *zstd.Decoder {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(8<<20),
		// Frames written with a content checksum (walship before it
		// stopped writing one) are not hashed again: the payload SHA-256
		// and the entries' CRC32C check the same bytes.
		zstd.IgnoreChecksum(true))
	if err != nil {
		panic(err) // only on invalid options
	}
	return dec
}}
