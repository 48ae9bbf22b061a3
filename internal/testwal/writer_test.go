package testwal

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/walship/walship/wal"
)

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("walwriter %v: %v: %s", args, err, out)
	}
}

func check(t *testing.T, dir string, f wal.Format, first uint64, want [][]byte) {
	t.Helper()
	gotFirst, got := ReadLog(t, dir, f)
	if gotFirst != first || len(got) != len(want) {
		t.Fatalf("ReadLog: first %d, %d entries; want %d, %d", gotFirst, len(got), first, len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("entry %d differs", first+uint64(i))
		}
	}
}

func entries(seed int64, from, to uint64, max int) [][]byte {
	var out [][]byte
	for i := from; i <= to; i++ {
		out = append(out, Entry(seed, i, max))
	}
	return out
}

// TestWriter runs walwriter: writing, appending, starting past 1, and
// truncating, and reads the result back with ReadLog.
func TestWriter(t *testing.T) {
	bin := BuildWriter(t)
	if bin2 := BuildWriter(t); bin2 != bin {
		t.Errorf("BuildWriter built twice: %s, %s", bin, bin2)
	}
	for _, f := range []wal.Format{wal.FormatBinary, wal.FormatJSON} {
		t.Run(f.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			common := []string{"-dir", dir, "-format", f.String(), "-segsize", "1024", "-max", "500", "-nosync"}
			run(t, bin, append(common, "-seed", "3", "-count", "100", "-batch", "4")...)
			check(t, dir, wal.FormatAuto, 1, entries(3, 1, 100, 500))
			files, _ := os.ReadDir(dir)
			if len(files) < 5 {
				t.Errorf("%d segment files, want many", len(files))
			}
			// Appends continue after the last entry.
			run(t, bin, append(common, "-seed", "3", "-count", "20", "-rate", "1000")...)
			check(t, dir, f, 1, entries(3, 1, 120, 500))
			// Truncations, then more entries with another seed.
			run(t, bin, append(common, "-truncate-front", "30", "-truncate-back", "90", "-seed", "4", "-count", "10")...)
			check(t, dir, f, 30, append(entries(3, 30, 90, 500), entries(4, 91, 100, 500)...))
			run(t, bin, append(common, "-truncate-back", "95")...) // truncation only: exits
			check(t, dir, f, 30, append(entries(3, 30, 90, 500), entries(4, 91, 95, 500)...))

			// A log that starts past 1.
			dir2 := filepath.Join(t.TempDir(), "log")
			run(t, bin, "-dir", dir2, "-format", f.String(), "-start", "1000", "-count", "5", "-seed", "9")
			check(t, dir2, f, 1000, entries(9, 1000, 1004, 1024))
		})
	}
	if err := exec.Command(bin, "-format", "xml", "-dir", t.TempDir()).Run(); err == nil {
		t.Error("walwriter accepted -format xml")
	}
	if err := exec.Command(bin).Run(); err == nil {
		t.Error("walwriter ran without -dir")
	}
}

// TestWriterUntilKilled: -count 0 writes until SIGTERM and then closes the
// log cleanly.
func TestWriterUntilKilled(t *testing.T) {
	bin := BuildWriter(t)
	dir := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command(bin, "-dir", dir, "-count", "0", "-rate", "2000", "-nosync")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, dir, 50)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("walwriter after SIGINT: %v", err)
	}
	first, got := ReadLog(t, dir, wal.FormatBinary)
	if first != 1 || len(got) < 50 {
		t.Fatalf("first %d, %d entries", first, len(got))
	}
	for i, e := range got {
		if !bytes.Equal(e, Entry(1, uint64(i+1), 1024)) {
			t.Fatalf("entry %d differs", i+1)
		}
	}
}

// waitFor tails dir until entry n was written.
func waitFor(t *testing.T, dir string, n uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		tl, err := wal.Open(dir, wal.Options{})
		if err != nil {
			select { // the writer has not created the log yet: poll
			case <-ctx.Done():
				t.Fatalf("open %s: %v", dir, err)
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		defer tl.Close()
		if err := tl.Seek(n); err != nil {
			t.Fatal(err)
		}
		if _, err := tl.Next(ctx); err != nil {
			t.Fatal(err)
		}
		return
	}
}
