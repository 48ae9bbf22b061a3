// Package testwal helps tests that need a real tidwall/wal log: Entry makes
// deterministic entry bytes, BuildWriter builds walwriter (a program that
// writes a log with the real tidwall/wal, in another process, the way a
// database would), and ReadLog reads a whole log back for comparison.
//
// A test typically runs
//
//	bin := testwal.BuildWriter(t)
//	cmd := exec.Command(bin, "-dir", dir, "-format", "json", "-segsize", "65536",
//		"-seed", "7", "-max", "4096", "-count", "1000")
//
// and checks that every entry i it reads equals testwal.Entry(7, i, 4096).
package testwal
