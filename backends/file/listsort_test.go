package file

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// Runs written to the temporary file and the entries left in memory merge
// into key order (a directory "a" after the files "a-b" and "a.c", and an
// entry in two runs comes twice, next to itself); a run that is cut short
// or holds an unknown type fails the merge with an error naming the
// directory.
func TestSortedEntries(t *testing.T) {
	dir, file := fs.ModeDir, fs.FileMode(0)
	runs := [][]dirEntry{
		{{"b", file}, {"a", dir}, {"a.c", file}},
		{{"a-b", file}, {"c", dir}, {"b", file}},
		{{"ab", file}},
		{},
	}
	read := func(e *sortedEntries) ([]dirEntry, error) {
		var got []dirEntry
		for {
			d, ok, err := e.next()
			if err != nil || !ok {
				return got, err
			}
			got = append(got, d)
		}
	}
	write := func() *sortedEntries {
		e := &sortedEntries{dir: "d"}
		t.Cleanup(e.close)
		for _, r := range runs[:len(runs)-1] {
			e.mem = append(e.mem, r...)
			if err := e.spill(); err != nil {
				t.Fatal(err)
			}
		}
		e.mem = append(e.mem, runs[len(runs)-1]...)
		return e
	}
	for i := range runs {
		runs[len(runs)-1] = []dirEntry{{fmt.Sprint(i), file}, {"a", dir}, {"zz", dir}}[:i%4]
		e := write()
		if err := e.merge(); err != nil {
			t.Fatal(err)
		}
		got, err := read(e)
		want := slices.Concat(runs...)
		slices.SortStableFunc(want, compareEntries)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("merged %v, %v; want %v", got, err, want)
		}
	}

	for _, bad := range []struct {
		off  int64
		data string
		want string
	}{
		{4, "\x07", "of type 7"},
		{0, "\x20", "unexpected EOF"},
		{0, "\xff\xff\x7f", "a name of"},
	} {
		e := write()
		if _, err := e.tmp.WriteAt([]byte(bad.data), bad.off); err != nil {
			t.Fatal(err)
		}
		err := e.merge()
		if err == nil {
			_, err = read(e)
		}
		if err == nil || !strings.Contains(err.Error(), "entries of d") || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("run %q at %d: %v, want an error about d: %s", bad.data, bad.off, err, bad.want)
		}
	}
}
