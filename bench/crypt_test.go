package main

import (
	"testing"

	"github.com/walship/walship/segments"
)

// TestBenchCrypt runs -store crypt on a small log: every variant seals,
// and restores through pitr to the source's bytes (restoreCrypt checks).
func TestBenchCrypt(t *testing.T) {
	for _, codec := range []segments.Codec{segments.CodecZstd, segments.CodecNone} {
		if err := benchCrypt(t.TempDir(), 1<<20, codec); err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
	}
}
