// Command walwriter writes a tidwall/wal log the way a database would, for
// tests: entry i is testwal.Entry(seed, i, max). See testwal.BuildWriter for
// its flags. It prints nothing but errors.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/internal/testwal"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "walwriter:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		dir      = flag.String("dir", "", "log directory")
		format   = flag.String("format", "binary", "binary or json")
		segSize  = flag.Int("segsize", 0, "tidwall SegmentSize in bytes (0: tidwall's default)")
		seed     = flag.Int64("seed", 1, "entry seed")
		maxSize  = flag.Int("max", 1024, "maximum entry size")
		count    = flag.Int("count", 0, "entries to write; 0 = until killed (with a truncation: none)")
		rate     = flag.Float64("rate", 0, "entries per second; 0 = as fast as possible")
		batch    = flag.Int("batch", 1, "entries per WriteBatch")
		start    = flag.Uint64("start", 1, "first index of a new log")
		noSync   = flag.Bool("nosync", false, "tidwall NoSync")
		truncF   = flag.Uint64("truncate-front", 0, "TruncateFront(I) before writing")
		truncB   = flag.Uint64("truncate-back", 0, "TruncateBack(I) before writing")
		stopping atomic.Bool
	)
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		return errors.New("usage: walwriter -dir DIR [flags]")
	}
	opts := &tidwal.Options{
		NoSync:      *noSync,
		SegmentSize: *segSize,
		AllowEmpty:  true, // a log may start past index 1
	}
	switch *format {
	case "binary":
		opts.LogFormat = tidwal.Binary
	case "json":
		opts.LogFormat = tidwal.JSON
	default:
		return fmt.Errorf("-format %q: want binary or json", *format)
	}
	if *batch < 1 {
		*batch = 1
	}
	if *start > 1 {
		if err := seedStart(*dir, *start); err != nil {
			return err
		}
	}
	l, err := tidwal.Open(*dir, opts)
	if err != nil {
		return err
	}
	defer l.Close()
	if *truncF > 0 {
		if err := l.TruncateFront(*truncF); err != nil {
			return fmt.Errorf("truncate front %d: %w", *truncF, err)
		}
	}
	if *truncB > 0 {
		if err := l.TruncateBack(*truncB); err != nil {
			return fmt.Errorf("truncate back %d: %w", *truncB, err)
		}
	}

	if (*truncF > 0 || *truncB > 0) && *count == 0 {
		return l.Close() // truncate only
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stopping.Store(true) }()

	last, err := l.LastIndex()
	if err != nil {
		return err
	}
	began := time.Now()
	var b tidwal.Batch
	for n := 0; (*count == 0 || n < *count) && !stopping.Load(); {
		k := *batch
		if *count > 0 {
			k = min(k, *count-n)
		}
		b.Clear()
		for j := range k {
			i := last + 1 + uint64(j)
			b.Write(i, testwal.Entry(*seed, i, *maxSize))
		}
		if err := l.WriteBatch(&b); err != nil {
			return fmt.Errorf("write %d..%d: %w", last+1, last+uint64(k), err)
		}
		last += uint64(k)
		n += k
		if *rate > 0 {
			due := began.Add(time.Duration(float64(n) / *rate * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
	}
	return l.Close()
}

// seedStart makes an empty directory a log that starts at index start: an
// empty first segment file named by that index (tidwall opens it with
// AllowEmpty).
func seedStart(dir string, start uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if len(e.Name()) >= 20 && !strings.HasPrefix(e.Name(), ".") {
			return nil // a log exists: append to it
		}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%020d", start)))
	if err != nil {
		return err
	}
	return f.Close()
}
