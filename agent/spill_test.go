package agent

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/walship/walship/segments"
)

// A spill seals exactly what was added, in order, each entry under the
// CRC32C the sealer gave it, and leaves nothing once removed; open files left by a killed agent (spills and segments
// being written, of this walship or an older one) are gone at the next
// start, and sealed items stay.
func TestSpillAndOpenFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := openSpool(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	s, err := sp.newSpill()
	if err != nil {
		t.Fatal(err)
	}
	var want []segments.Entry
	for i := range 300 {
		d := bytes.Repeat([]byte{byte(i)}, (i*7919)%5000)
		if i == 150 {
			d = bytes.Repeat([]byte("x"), 2<<20) // larger than the buffers
		}
		e := segments.Entry{Index: uint64(1000 + i), Time: int64(i) - 5, Data: d}
		want = append(want, e)
		crc := segments.CRC32C(d)
		if i == 200 {
			crc = 0 // the spill carries the CRC given, not one of its own
		}
		if err := s.add(e, crc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(t.TempDir(), "seg")
	f, err := os.Create(seg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := segments.NewWriter(f, 1, 1, segments.CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.seal(w); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	f.Seek(0, io.SeekStart)
	rd, err := segments.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	i := 0
	for ; ; i++ {
		e, err := rd.Next()
		if i == 200 {
			if err == nil || !strings.Contains(err.Error(), "CRC32C") {
				t.Fatalf("entry 200 sealed under a wrong CRC32C read back: %v", err)
			}
			break
		}
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if w := want[i]; e.Index != w.Index || e.Time != w.Time || !bytes.Equal(e.Data, w.Data) {
			t.Fatalf("entry %d: got index %d time %d %d bytes", i, e.Index, e.Time, len(e.Data))
		}
	}
	if h := rd.Header(); h.First != 1000 || h.Last != 1299 || h.Count != 300 || h.MinTime != -5 || h.MaxTime != 294 {
		t.Fatalf("sealed header %+v", h)
	}
	s.remove()
	if _, err := os.Stat(s.f.Name()); !os.IsNotExist(err) {
		t.Fatalf("spill file after remove: %v", err)
	}

	item := itemName(segments.SegmentName{Timeline: 1, First: 1, Last: 2})
	for _, n := range []string{"open.tmp", "open-7.tmp", "open-12.tmp", item} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := openSpool(dir, quietLogger()); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != item {
		t.Fatalf("spool after a restart holds %v, want only %s", ents, item)
	}
}
