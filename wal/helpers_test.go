package wal_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/internal/testwal"
	"github.com/walship/walship/wal"
)

// binEntry encodes data as tidwall's binary format does.
func binEntry(data []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(data))), data...)
}

// jsonLine encodes entry index as tidwall's JSON format does.
func jsonLine(index uint64, data []byte) []byte {
	b := append([]byte(`{"index":"`), strconv.FormatUint(index, 10)...)
	b = append(b, `","data":`...)
	if utf8.Valid(data) {
		m, _ := json.Marshal(string(data))
		b = append(append(b, '"', '+'), m[1:]...)
	} else {
		b = append(append(b, '"', '$'), base64.URLEncoding.EncodeToString(data)...)
		b = append(b, '"')
	}
	return append(b, '}', '\n')
}

// encode encodes entries first.. in format f.
func encode(f wal.Format, first uint64, entries ...[]byte) []byte {
	var b []byte
	for i, e := range entries {
		if f == wal.FormatJSON {
			b = append(b, jsonLine(first+uint64(i), e)...)
		} else {
			b = append(b, binEntry(e)...)
		}
	}
	return b
}

func segName(index uint64) string { return fmt.Sprintf("%020d", index) }

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// gen returns entries from..to of seed with max size.
func gen(seed int64, from, to uint64, max int) [][]byte {
	var out [][]byte
	for i := from; i <= to; i++ {
		out = append(out, testwal.Entry(seed, i, max))
	}
	return out
}

// hashDir fingerprints every file in dir: name, mode, size, mtime, content.
func hashDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = fmt.Sprintf("%v %d %d %s", fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), hex.EncodeToString(sum[:]))
	}
	return out
}

func sameHashes(t testing.TB, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("directory changed: %d files before, %d after", len(before), len(after))
	}
	for name, h := range before {
		if after[name] != h {
			t.Errorf("file %s changed: %q -> %q", name, h, after[name])
		}
	}
}

func open(t testing.TB, dir string, opt wal.Options) *wal.Tailer {
	t.Helper()
	tl, err := wal.Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

// next returns the next entry, failing the test on error or after 10 s.
func next(t testing.TB, tl *wal.Tailer) wal.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := tl.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

// expect reads entries and compares them with want, starting at first.
func expect(t testing.TB, tl *wal.Tailer, first uint64, want [][]byte) {
	t.Helper()
	for i, w := range want {
		e := next(t, tl)
		if e.Index != first+uint64(i) {
			t.Fatalf("got entry %d, want %d", e.Index, first+uint64(i))
		}
		if string(e.Data) != string(w) {
			t.Fatalf("entry %d: got %d bytes %.40q, want %d bytes %.40q", e.Index, len(e.Data), e.Data, len(w), w)
		}
	}
}

// expectBlocked checks that Next waits: it must return exactly the
// context's error after d.
func expectBlocked(t testing.TB, tl *wal.Tailer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	e, err := tl.Next(ctx)
	if err != context.DeadlineExceeded {
		t.Fatalf("Next while nothing is complete: got entry %d, err %v; want context.DeadlineExceeded", e.Index, err)
	}
}

// nextErr returns Next's error, failing when it returns an entry.
// nextErr returns the error Next reports. Entries still buffered when the
// log changed may come first (at most refreshEvery = 64 of them, in order).
func nextErr(t testing.TB, tl *wal.Tailer) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var prev uint64
	for i := 0; i <= 64; i++ {
		e, err := tl.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next timed out, want an error")
		}
		if err != nil {
			return err
		}
		if prev != 0 && e.Index != prev+1 {
			t.Fatalf("Next returned entry %d after %d", e.Index, prev)
		}
		prev = e.Index
	}
	t.Fatalf("Next returned 65 entries after the change, want an error within 64")
	return nil
}

// tidLog opens an in-process tidwall/wal writer on dir.
func tidLog(t testing.TB, dir string, f wal.Format, segSize int) *tidwal.Log {
	t.Helper()
	lf := tidwal.Binary
	if f == wal.FormatJSON {
		lf = tidwal.JSON
	}
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: lf, SegmentSize: segSize, NoSync: true, AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func writeRange(t testing.TB, l *tidwal.Log, seed int64, from, to uint64, max int) {
	t.Helper()
	var b tidwal.Batch
	for i := from; i <= to; i++ {
		b.Write(i, testwal.Entry(seed, i, max))
	}
	if err := l.WriteBatch(&b); err != nil {
		t.Fatalf("write %d..%d: %v", from, to, err)
	}
}

func formats() []wal.Format { return []wal.Format{wal.FormatBinary, wal.FormatJSON} }
