package wal_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/wal"
)

func TestSeek(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := tidLog(t, dir, f, segSz)
			writeRange(t, l, seedA, 1, 200, maxSz)
			tl := open(t, dir, wal.Options{})
			expect(t, tl, 1, gen(seedA, 1, 10, maxSz))
			for _, to := range []uint64{150, 3, 11, 200, 1, 199} {
				if err := tl.Seek(to); err != nil {
					t.Fatal(err)
				}
				expect(t, tl, to, gen(seedA, to, min(to+3, 200), maxSz))
			}
			// Into the future: Next waits for the entry.
			if err := tl.Seek(205); err != nil {
				t.Fatal(err)
			}
			expectBlocked(t, tl, 30*time.Millisecond)
			writeRange(t, l, seedA, 201, 204, maxSz)
			expectBlocked(t, tl, 30*time.Millisecond)
			writeRange(t, l, seedA, 205, 300, maxSz)
			expect(t, tl, 205, gen(seedA, 205, 300, maxSz))
			if err := tl.Seek(0); err == nil {
				t.Error("Seek(0) succeeded")
			}
			tl.Close()
			if err := tl.Seek(5); err == nil {
				t.Error("Seek after Close succeeded")
			}
			if _, err := tl.Next(context.Background()); err == nil {
				t.Error("Next after Close succeeded")
			}
		})
	}
}

func TestScanBoundsSegmentStart(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := tidLog(t, dir, f, segSz)
			writeRange(t, l, seedA, 1, 300, maxSz)
			if err := l.TruncateFront(40); err != nil {
				t.Fatal(err)
			}
			tl := open(t, dir, wal.Options{})
			if first, last, err := tl.Bounds(); err != nil || first != 40 || last != 300 {
				t.Fatalf("Bounds() = %d, %d, %v", first, last, err)
			}
			all := gen(seedA, 40, 300, maxSz)
			for _, r := range [][2]uint64{{40, 300}, {41, 41}, {100, 250}, {299, 300}, {7, 3}} {
				var got []wal.Entry
				err := tl.Scan(r[0], r[1], func(e wal.Entry) error { got = append(got, e); return nil })
				if err != nil {
					t.Fatalf("Scan(%d, %d): %v", r[0], r[1], err)
				}
				if r[0] > r[1] {
					if len(got) != 0 {
						t.Errorf("Scan of an empty range called fn")
					}
					continue
				}
				if len(got) != int(r[1]-r[0]+1) {
					t.Fatalf("Scan(%d, %d): %d entries", r[0], r[1], len(got))
				}
				for i, e := range got {
					if e.Index != r[0]+uint64(i) || string(e.Data) != string(all[e.Index-40]) || !e.Time.IsZero() {
						t.Fatalf("Scan(%d, %d): entry %d wrong", r[0], r[1], e.Index)
					}
				}
			}
			stop := errors.New("stop")
			n := 0
			if err := tl.Scan(40, 300, func(wal.Entry) error { n++; return stop }); err != stop || n != 1 {
				t.Errorf("Scan with a failing fn: %v after %d calls", err, n)
			}
			if err := tl.Scan(290, 301, func(wal.Entry) error { return nil }); err == nil {
				t.Error("Scan past the end succeeded")
			}
			var tf *wal.TruncatedFrontError
			if err := tl.Scan(39, 41, func(wal.Entry) error { return nil }); !errors.As(err, &tf) || tf.Want != 39 || tf.First != 40 {
				t.Errorf("Scan before the front: %v", err)
			}
			// The position did not move.
			expect(t, tl, 40, all[:3])

			// SegmentStart agrees with the files and with each other.
			prev := uint64(0)
			for i := uint64(40); i <= 300; i++ {
				s := segStart(t, tl, i)
				if s > i || s < prev || (s != prev && s != i) {
					t.Fatalf("SegmentStart(%d) = %d after %d", i, s, prev)
				}
				prev = s
			}
			if prev == 40 {
				t.Fatal("test wants several segment files")
			}
			if _, err := tl.SegmentStart(301); err == nil {
				t.Error("SegmentStart past the end succeeded")
			}
			if _, err := tl.SegmentStart(39); !errors.As(err, &tf) {
				t.Errorf("SegmentStart before the front: %v", err)
			}
		})
	}
}

// TestConcurrentQueries: Bounds, Scan, SegmentStart and Format may run on
// other goroutines while Next follows a writer (the race detector checks).
func TestConcurrentQueries(t *testing.T) {
	dir := t.TempDir()
	l := tidLog(t, dir, wal.FormatJSON, segSz)
	writeRange(t, l, seedA, 1, 10, maxSz)
	tl := open(t, dir, wal.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, last, err := tl.Bounds(); err == nil && last >= 1 {
				tl.SegmentStart(last)
				tl.Scan(1, min(last, 5), func(wal.Entry) error { return nil })
			}
			tl.Format()
		}
	}()
	for i := uint64(11); i <= 300; i += 10 {
		writeRange(t, l, seedA, i, i+9, maxSz)
	}
	expect(t, tl, 1, gen(seedA, 1, 300, maxSz))
	cancel()
	wg.Wait()
}

// TestNextAllocations: reading entries that are already there allocates
// only the entry's data (no timers, no goroutines).
func TestNextAllocations(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, segName(1)), encode(wal.FormatBinary, 1, gen(seedA, 1, 3000, 100)...))
	tl := open(t, dir, wal.Options{})
	ctx := context.Background()
	next(t, tl)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := tl.Next(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Next allocates %.1f times per entry, want at most 1 (the data)", allocs)
	}
}

func BenchmarkNext(b *testing.B) {
	for _, f := range formats() {
		b.Run("format="+f.String()+"/entrySize=100", func(b *testing.B) {
			dir := b.TempDir()
			n := uint64(b.N) + 1
			data := make([][]byte, 0, 1000)
			for i := range 1000 {
				data = append(data, []byte(string(rune('a'+i%26))+"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"[:99]))
			}
			var buf []byte
			for i := uint64(1); i <= n; i++ {
				buf = append(buf, encode(f, i, data[i%1000])...)
			}
			writeFile(b, filepath.Join(dir, segName(1)), buf)
			tl := open(b, dir, wal.Options{})
			ctx := context.Background()
			b.SetBytes(100)
			b.ResetTimer()
			for range b.N {
				if _, err := tl.Next(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
