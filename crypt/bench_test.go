package crypt

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkSeal and BenchmarkOpen measure the envelope on a 16 MiB object
// (a default-size segment) to one X25519 recipient; BenchmarkRaw copies the
// same bytes with no envelope, the baseline of the same run.
const benchSize = 16 << 20

func BenchmarkRaw(b *testing.B) {
	plain := bytes.Repeat([]byte("walship log record "), benchSize/19+1)[:benchSize]
	b.SetBytes(benchSize)
	for b.Loop() {
		var buf bytes.Buffer
		buf.Grow(benchSize)
		if _, err := io.Copy(&buf, bytes.NewReader(plain)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	_, r := testIdentity(b, 0)
	plain := bytes.Repeat([]byte("walship log record "), benchSize/19+1)[:benchSize]
	b.SetBytes(benchSize)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		w, err := Seal(&buf, []*Recipient{r})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	id, r := testIdentity(b, 0)
	plain := bytes.Repeat([]byte("walship log record "), benchSize/19+1)[:benchSize]
	ct := seal(b, plain, r)
	ids := []*Identity{id}
	b.SetBytes(benchSize)
	for b.Loop() {
		pr, err := Open(bytes.NewReader(ct), ids)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, pr); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkSealPassphrase is the fixed cost of passphrase mode per object
// (scrypt at the default work factor), on a 1 KiB object.
func BenchmarkSealPassphrase(b *testing.B) {
	b.Setenv("BENCH_WALSHIP_PASS", "benchmark passphrase")
	r, _, err := PassphraseFromEnv("BENCH_WALSHIP_PASS", 0)
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, 1024)
	for b.Loop() {
		w, err := Seal(io.Discard, []*Recipient{r})
		if err != nil {
			b.Fatal(err)
		}
		w.Write(plain)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkName names a 1 MiB chunk (HMAC-SHA256) against the plain
// store's SHA-256 of the same bytes.
func BenchmarkChunkName(b *testing.B) {
	s, err := NewChunkSecret()
	if err != nil {
		b.Fatal(err)
	}
	n := NewChunkNamer(s)
	chunk := bytes.Repeat([]byte{7}, 1<<20)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		n.Name(chunk)
	}
}
