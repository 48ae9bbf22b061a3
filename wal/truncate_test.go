package wal_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/walship/walship/wal"
)

const (
	seedA = 1
	seedB = 2
	maxSz = 300
	segSz = 2048 // many small segment files
)

// TestTruncateFront: truncations behind the position are not reported (the
// file being read may be replaced by a renamed .START file); a truncation
// past the position is a *TruncatedFrontError until Seek.
func TestTruncateFront(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := tidLog(t, dir, f, segSz)
			writeRange(t, l, seedA, 1, 400, maxSz)
			tl := open(t, dir, wal.Options{})
			before := hashDir(t, dir) // the tailer writes nothing (checked again below)
			expect(t, tl, 1, gen(seedA, 1, 50, maxSz))
			sameHashes(t, before, hashDir(t, dir))

			// Behind the position, in earlier files only.
			if err := l.TruncateFront(20); err != nil {
				t.Fatal(err)
			}
			expect(t, tl, 51, gen(seedA, 51, 60, maxSz))

			// At the start of the file being read: it is replaced by a copy
			// with the same name (written as .START, renamed).
			pos := uint64(61)
			pos = readToInside(t, tl, pos)
			s := segStart(t, tl, pos)
			if err := l.TruncateFront(s); err != nil {
				t.Fatal(err)
			}
			expect(t, tl, pos, gen(seedA, pos, pos+5, maxSz))
			pos += 6

			// Exactly at the position, inside the file being read.
			pos = readToInside(t, tl, pos)
			if err := l.TruncateFront(pos); err != nil {
				t.Fatal(err)
			}
			expect(t, tl, pos, gen(seedA, pos, pos+10, maxSz))
			pos += 11

			// Past the position.
			cut := pos + 57
			if err := l.TruncateFront(cut); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				err := nextErr(t, tl)
				var tf *wal.TruncatedFrontError
				// Entries buffered before the truncation may still come first.
				if !errors.As(err, &tf) || tf.Want < pos || tf.Want > pos+64 || tf.Want >= cut || tf.First != cut {
					t.Fatalf("Next after TruncateFront(%d) at position %d: %v; want TruncatedFrontError{%d.., %d}", cut, pos, err, pos, cut)
				}
			}
			if first, _, _ := tl.Bounds(); first != cut {
				t.Errorf("Bounds first = %d, want %d", first, cut)
			}
			if err := tl.Scan(pos, cut, func(wal.Entry) error { return nil }); !errors.As(err, new(*wal.TruncatedFrontError)) {
				t.Errorf("Scan of truncated entries: %v", err)
			}
			if err := tl.Seek(cut); err != nil {
				t.Fatal(err)
			}
			expect(t, tl, cut, gen(seedA, cut, 400, maxSz))
			writeRange(t, l, seedA, 401, 420, maxSz)
			expect(t, tl, 401, gen(seedA, 401, 420, maxSz))

			// Everything (AllowEmpty): the log restarts at 421.
			if err := l.TruncateFront(421); err != nil {
				t.Fatal(err)
			}
			expectBlocked(t, tl, 30*time.Millisecond)
			writeRange(t, l, seedB, 421, 430, maxSz)
			expect(t, tl, 421, gen(seedB, 421, 430, maxSz))
		})
	}
}

// TestTruncateBack: a rewrite of entries already returned is a
// *RewrittenError naming the earliest changed file; after Seek the new
// entries are read. A truncation after the position is no rewrite.
func TestTruncateBack(t *testing.T) {
	for _, f := range formats() {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := tidLog(t, dir, f, segSz)
			writeRange(t, l, seedA, 1, 300, maxSz)
			tl := open(t, dir, wal.Options{})
			expect(t, tl, 1, gen(seedA, 1, 100, maxSz))

			// After the position: nothing returned changes.
			if err := l.TruncateBack(250); err != nil {
				t.Fatal(err)
			}
			expect(t, tl, 101, gen(seedA, 101, 250, maxSz))
			expectBlocked(t, tl, 30*time.Millisecond)
			writeRange(t, l, seedA, 251, 300, maxSz)
			expect(t, tl, 251, gen(seedA, 251, 300, maxSz))

			// Over returned entries, in an earlier file, then new appends.
			k := uint64(150)
			for segStart(t, tl, k+1) > k {
				k++ // k+1 must share a file with k, so that file changes
			}
			from := segStart(t, tl, k)
			if err := l.TruncateBack(k); err != nil {
				t.Fatal(err)
			}
			writeRange(t, l, seedB, k+1, 320, maxSz)
			for range 2 {
				err := nextErr(t, tl)
				var rw *wal.RewrittenError
				if !errors.As(err, &rw) || rw.From != from || rw.Last != 320 || rw.File != segName(from) {
					t.Fatalf("Next after TruncateBack(%d): %v; want RewrittenError{From: %d, Last: 320, File: %s}", k, err, from, segName(from))
				}
			}
			if err := tl.Seek(from); err != nil {
				t.Fatal(err)
			}
			expect(t, tl, from, gen(seedA, from, k, maxSz))
			expect(t, tl, k+1, gen(seedB, k+1, 320, maxSz))

			// Back over the file being read, nothing appended yet: the log's
			// last index dropped below the position.
			if err := l.TruncateBack(310); err != nil {
				t.Fatal(err)
			}
			err := nextErr(t, tl)
			var rw *wal.RewrittenError
			if !errors.As(err, &rw) || rw.From > 311 || rw.Last != 310 {
				t.Fatalf("Next after TruncateBack(310) at 321: %v", err)
			}
			if err := tl.Seek(311); err != nil {
				t.Fatal(err)
			}
			expectBlocked(t, tl, 30*time.Millisecond)
			writeRange(t, l, seedA, 311, 330, maxSz)
			expect(t, tl, 311, gen(seedA, 311, 330, maxSz))
		})
	}
}

// TestRewriteWhileBehind: a rewrite of a file the tailer has not reached
// is no error; it reads the new entries.
func TestRewriteWhileBehind(t *testing.T) {
	dir := t.TempDir()
	l := tidLog(t, dir, wal.FormatBinary, segSz)
	writeRange(t, l, seedA, 1, 200, maxSz)
	tl := open(t, dir, wal.Options{})
	expect(t, tl, 1, gen(seedA, 1, 20, maxSz))
	if segStart(t, tl, 150) <= 21 {
		t.Fatal("test wants 150 in a later file")
	}
	if err := l.TruncateBack(149); err != nil {
		t.Fatal(err)
	}
	writeRange(t, l, seedB, 150, 210, maxSz)
	expect(t, tl, 21, gen(seedA, 21, 149, maxSz))
	expect(t, tl, 150, gen(seedB, 150, 210, maxSz))
}

// readToInside reads entries from pos on until pos is not the first entry
// of its segment file, and returns the new position.
func readToInside(t testing.TB, tl *wal.Tailer, pos uint64) uint64 {
	t.Helper()
	for segStart(t, tl, pos) == pos {
		expect(t, tl, pos, gen(seedA, pos, pos, maxSz))
		pos++
	}
	return pos
}

func segStart(t testing.TB, tl *wal.Tailer, index uint64) uint64 {
	t.Helper()
	s, err := tl.SegmentStart(index)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLeftovers: .START and .END files of an unfinished truncation (a
// writer that crashed, or one caught in the middle) are read the way
// tidwall's Open would resolve them, and never reported as corruption. The
// directory stays byte-identical.
func TestLeftovers(t *testing.T) {
	e := gen(seedA, 1, 40, 100)
	seg := func(f wal.Format, first, last uint64) []byte { return encode(f, first, e[first-1:last]...) }
	type file struct {
		name        string
		first, last uint64
	}
	full := []file{{segName(1), 1, 10}, {segName(11), 11, 20}, {segName(21), 21, 30}}
	cases := []struct {
		name        string
		files       []file
		first, last uint64
	}{
		{"start written", append(full, file{segName(15) + ".START", 15, 20}), 15, 30},
		{"start, old files partly deleted", []file{{segName(11), 11, 20}, {segName(15) + ".START", 15, 20}, {segName(21), 21, 30}}, 15, 30},
		{"start at a file boundary", append(full, file{segName(11) + ".START", 11, 20}), 11, 30},
		{"end written", append(full, file{segName(11) + ".END", 11, 13}), 1, 13},
		{"end, later files deleted", []file{{segName(1), 1, 10}, {segName(11) + ".END", 11, 13}}, 1, 13},
		{"end of the first file", append(full, file{segName(1) + ".END", 1, 4}), 1, 4},
		{"temp files", append(full, file{segName(31) + ".START.TEMP", 31, 31}, file{segName(5) + ".END.TEMP", 5, 5}), 1, 30},
	}
	for _, f := range formats() {
		for _, tc := range cases {
			t.Run(f.String()+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				for _, fl := range tc.files {
					writeFile(t, filepath.Join(dir, fl.name), seg(f, fl.first, fl.last))
				}
				before := hashDir(t, dir)
				tl := open(t, dir, wal.Options{})
				if first, last, err := tl.Bounds(); err != nil || first != tc.first || last != tc.last {
					t.Errorf("Bounds() = %d, %d, %v; want %d, %d", first, last, err, tc.first, tc.last)
				}
				expect(t, tl, tc.first, e[tc.first-1:tc.last])
				expectBlocked(t, tl, 30*time.Millisecond)
				if s, err := tl.SegmentStart(tc.last); err != nil || s > tc.last {
					t.Errorf("SegmentStart(%d) = %d, %v", tc.last, s, err)
				}
				n := 0
				if err := tl.Scan(tc.first, tc.last, func(wal.Entry) error { n++; return nil }); err != nil || n != int(tc.last-tc.first+1) {
					t.Errorf("Scan: %d entries, %v", n, err)
				}
				tl.Close()
				sameHashes(t, before, hashDir(t, dir))
			})
		}
	}
}

// TestEndAppearsUnderTailer: a TruncateBack caught between writing the
// .END file and deleting the old ones is already a rewrite (seen by a
// waiting tailer at its next directory listing).
func TestEndAppearsUnderTailer(t *testing.T) {
	f := wal.FormatBinary
	e := gen(seedA, 1, 30, 100)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, segName(1)), encode(f, 1, e[0:10]...))
	writeFile(t, filepath.Join(dir, segName(11)), encode(f, 11, e[10:20]...))
	writeFile(t, filepath.Join(dir, segName(21)), encode(f, 21, e[20:30]...))
	tl := open(t, dir, wal.Options{})
	expect(t, tl, 1, e)
	writeFile(t, filepath.Join(dir, segName(11)+".END"), encode(f, 11, e[10:13]...))
	err := nextErr(t, tl)
	var rw *wal.RewrittenError
	if !errors.As(err, &rw) || rw.From != 11 || rw.Last != 13 || rw.File != segName(11)+".END" {
		t.Fatalf("got %v; want RewrittenError{From: 11, Last: 13}", err)
	}
}

// TestRewriteBeforeSeek: files before the position that the tailer was
// positioned past by Seek (their entries came from elsewhere, as after an
// agent restart) are watched too: a rewrite there is reported from the
// changed file on, even when new appends hide that the log got shorter. A
// TruncateFront that leaves such a file first, copied whole, is no rewrite.
func TestRewriteBeforeSeek(t *testing.T) {
	for _, appendAfter := range []bool{false, true} {
		dir := t.TempDir()
		l := tidLog(t, dir, wal.FormatBinary, segSz)
		writeRange(t, l, seedA, 1, 300, maxSz)
		tl := open(t, dir, wal.Options{})
		if err := tl.Seek(250); err != nil {
			t.Fatal(err)
		}
		expect(t, tl, 250, gen(seedA, 250, 260, maxSz))
		k := uint64(100)
		for segStart(t, tl, k+1) > k {
			k++
		}
		from := segStart(t, tl, k)
		if segStart(t, tl, 250) <= k {
			t.Fatal("test wants 250 in a later file")
		}
		if err := l.TruncateBack(k); err != nil {
			t.Fatal(err)
		}
		last := k
		if appendAfter {
			writeRange(t, l, seedB, k+1, 400, maxSz)
			last = 400
		}
		err := nextErr(t, tl)
		var rw *wal.RewrittenError
		if !errors.As(err, &rw) || rw.From != from || rw.Last != last {
			t.Fatalf("append %v: got %v; want RewrittenError{From: %d, Last: %d}", appendAfter, err, from, last)
		}
	}

	dir := t.TempDir()
	l := tidLog(t, dir, wal.FormatBinary, segSz)
	writeRange(t, l, seedA, 1, 300, maxSz)
	tl := open(t, dir, wal.Options{})
	if err := tl.Seek(250); err != nil {
		t.Fatal(err)
	}
	expect(t, tl, 250, gen(seedA, 250, 255, maxSz))
	s := segStart(t, tl, 150)
	if err := l.TruncateFront(s); err != nil {
		t.Fatal(err)
	}
	writeRange(t, l, seedA, 301, 310, maxSz)
	expect(t, tl, 256, gen(seedA, 256, 310, maxSz))
}
