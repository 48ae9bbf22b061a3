//go:build unix

package wal

import (
	"syscall"
)

// fileID identifies a file independent of its name: a rename keeps it, a
// rewrite through a temp file and rename (tidwall's truncations) changes it.
type fileID struct{ dev, ino uint64 }

// statBuf is the platform's stat structure.
type statBuf = syscall.Stat_t

// fileStat is what the tailer needs to know about a file.
type fileStat struct {
	id    fileID
	size  int64
	nlink uint64 // 0: the file was deleted (we hold the last reference)
}

func fromStat(st *syscall.Stat_t) fileStat {
	return fileStat{
		id:    fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, //nolint:unconvert // types differ per platform
		size:  st.Size,
		nlink: uint64(st.Nlink), //nolint:unconvert
	}
}

// statFD fstats an open descriptor. It does not allocate, so the tailer's
// fast path can afford it once per entry.
func statFD(fd int, st *syscall.Stat_t) (fileStat, error) {
	if err := syscall.Fstat(fd, st); err != nil {
		return fileStat{}, err
	}
	return fromStat(st), nil
}

// statPath stats a path.
func statPath(path string) (fileStat, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileStat{}, &pathError{op: "stat", path: path, err: err}
	}
	return fromStat(&st), nil
}

type pathError struct {
	op, path string
	err      error
}

func (e *pathError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }
