package pitr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/wal"
)

// A file the syncer cannot fsync fails the log's Close, naming the file,
// and every other file handed to it is still closed.
func TestLogWriterReportsBackgroundFsyncFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	lw, err := newLogWriter(dir, wal.FormatBinary, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100) // one entry fills a file
	if err := lw.Append(1, data); err != nil {
		t.Fatal(err)
	}
	// The next file is closed under the writer: its fsync fails.
	if err := lw.Append(2, data[:10]); err != nil {
		t.Fatal(err)
	}
	bad := lw.f
	bad.Close()
	lw.f = nil
	lw.syncer.files <- bad
	for i := uint64(3); i <= 10; i++ {
		err = lw.Append(i, data)
		if err != nil {
			break
		}
	}
	if err == nil {
		err = lw.Close()
	} else {
		lw.abort()
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Base(bad.Name())) {
		t.Fatalf("log writer: err = %v, want the fsync failure of %s", err, bad.Name())
	}
	if lw.syncer != nil {
		if werr := lw.syncer.wait(); werr == nil {
			t.Fatal("syncer still running and healthy after a failure")
		}
	}
}

// Close returns only once every file is fsynced and closed: the files
// written are whole, and each is there.
func TestLogWriterCloseWaitsForEveryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	lw, err := newLogWriter(dir, wal.FormatBinary, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300)
	for i := uint64(1); i <= 200; i++ {
		if err := lw.Append(i, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != lw.files || lw.files != 50 {
		t.Fatalf("%d files in %s, writer made %d, want 50", len(ents), dir, lw.files)
	}
	var total int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if total != lw.bytes {
		t.Fatalf("files hold %d bytes, writer wrote %d", total, lw.bytes)
	}
}
