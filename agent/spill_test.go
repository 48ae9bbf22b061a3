package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/walship/walship/segments"
)

// A spill gives back exactly what was added, in order, and leaves nothing
// once removed; open files left by a killed agent (spills and segments
// being written, of this walship or an older one) are gone at the next
// start, and sealed items stay.
func TestSpillAndOpenFiles(t *testing.T) {
	crcOf := func(i int) uint32 { return 0x9e3779b9 * uint32(i+1) } // any value: the spill carries it as given
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
		if err := s.add(e, crcOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	i := 0
	if err := s.each(func(e segments.Entry, crc uint32) error {
		w := want[i]
		if e.Index != w.Index || e.Time != w.Time || !bytes.Equal(e.Data, w.Data) || crc != crcOf(i) {
			t.Fatalf("entry %d: got index %d time %d %d bytes crc %#x", i, e.Index, e.Time, len(e.Data), crc)
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Fatalf("read %d entries, added %d", i, len(want))
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
