package testwal

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/wal"
)

// ReadLog reads every entry of the tidwall/wal log in dir with tidwall/wal
// itself. tidwall's Open writes (it finishes interrupted truncations and
// creates files), so it works on a copy of dir in a temporary directory;
// dir is not touched. The log should be quiescent: a copy taken mid-write
// may end in a torn entry, which tidwall reports as corruption. FormatAuto
// detects the format from the first bytes.
func ReadLog(t testing.TB, dir string, format wal.Format) (first uint64, entries [][]byte) {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "log")
	if err := copyDir(dir, cp); err != nil {
		t.Fatalf("ReadLog: copy %s: %v", dir, err)
	}
	if format == wal.FormatAuto {
		format = detect(t, cp)
	}
	lf := tidwal.Binary
	if format == wal.FormatJSON {
		lf = tidwal.JSON
	}
	l, err := tidwal.Open(cp, &tidwal.Options{LogFormat: lf, AllowEmpty: true, NoSync: true})
	if err != nil {
		t.Fatalf("ReadLog: open copy of %s: %v", dir, err)
	}
	defer l.Close()
	first, err = l.FirstIndex()
	if err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	last, err := l.LastIndex()
	if err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	for i := first; i <= last && last > 0; i++ {
		data, err := l.Read(i)
		if err != nil {
			t.Fatalf("ReadLog: read entry %d of %s: %v", i, dir, err)
		}
		entries = append(entries, data)
	}
	return first, entries
}

func detect(t testing.TB, dir string) wal.Format {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || len(b) == 0 || e.IsDir() {
			continue
		}
		if len(b) >= 10 && string(b[:10]) == `{"index":"` {
			return wal.FormatJSON
		}
		return wal.FormatBinary
	}
	return wal.FormatBinary
}

func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
