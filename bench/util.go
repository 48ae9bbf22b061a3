package main

import (
	"fmt"
	"github.com/walship/walship/wal"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	tidwal "github.com/tidwall/wal"
)

// generate writes a tidwall/wal log of about size bytes with JSON-like
// records, the kind of entries a database logs.
func generate(dir string, size int64) (int64, error) {
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, NoSync: true})
	if err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var b tidwal.Batch
	var total int64
	for i := uint64(1); total < size; {
		b.Clear()
		for k := 0; k < 256; k++ {
			rec := record(rng, i)
			b.Write(i, rec)
			total += int64(len(rec)) + 2
			i++
		}
		if err := l.WriteBatch(&b); err != nil {
			return 0, err
		}
	}
	if err := l.Sync(); err != nil {
		return 0, err
	}
	if err := l.Close(); err != nil {
		return 0, err
	}
	return dirSize(dir), nil
}

// record is entry i of a generated log: a JSON-like record.
func record(rng *rand.Rand, i uint64) []byte {
	return fmt.Appendf(nil, `{"op":"put","table":"orders","key":"k%08d","ts":%d,"value":{"customer":%d,"amount":%d.%02d,"status":"%s","note":"%x"}}`,
		rng.IntN(1e8), 1_700_000_000_000+int64(i), rng.IntN(1e6), rng.IntN(10000), rng.IntN(100),
		[]string{"new", "paid", "shipped", "returned"}[rng.IntN(4)], rng.Uint64())
}

// lastIndex reads the log's last index with walship's own read-only
// tailer: tidwall's Open would load the last segment file into memory and
// count it against the agent's peak RSS in the ship child.
func lastIndex(dir string) (uint64, error) {
	t, err := wal.Open(dir, wal.Options{})
	if err != nil {
		return 0, err
	}
	defer t.Close()
	_, last, err := t.Bounds()
	return last, err
}

func copyTree(src, dst string) (int64, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ents {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			return n, err
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			in.Close()
			return n, err
		}
		c, err := io.Copy(out, in)
		in.Close()
		n += c
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
	}
	d, err := os.Open(dst)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	return n, err
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// vmHWM is this process's peak resident set size in bytes (0 if unknown).
// It is read in the child itself: the rusage of a child started with
// CLONE_VM would count the parent's pages from before exec.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func mbs(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
