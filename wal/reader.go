package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

const (
	readBufSize = 64 << 10
	// A buffer grown past this for one long JSON line is dropped again
	// once the line has been consumed.
	maxIdleBuf = 4 * readBufSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segReader reads one segment file front to back through a buffer. It reads
// by position (pread), never writes, and remembers how much it consumed and
// a CRC-32C of those bytes, so that a later look at the directory can tell
// whether the file it read from is still the same.
type segReader struct {
	f      *os.File
	fd     int
	dir    string
	name   string // file name as opened (may end in .START / .END)
	index  uint64 // first index of the segment
	next   uint64 // index of the entry that starts at off
	hash   bool   // keep crc (the tailer does; Scan and counting do not)
	borrow bool   // binary entries may be returned as slices of buf (Options.Borrow)

	off int64  // bytes consumed: the file offset of buf[r]
	crc uint32 // CRC-32C of bytes [0, off) when hash is set

	buf  []byte
	r, w int

	st           fileStat // at the last refresh
	sysst        statBuf  // reused by refresh: no allocation per entry
	sealed       bool     // a newer segment file existed before the last read attempt
	sinceRefresh int      // entries served since the last refresh
	sniffd       bool     // the format check at offset 0 was done
}

func openSeg(dir string, s segFile, hash bool) (*segReader, error) {
	path := joinDir(dir, s.name)
	f, err := os.Open(path) // O_RDONLY: the tailer never writes to the source
	if err != nil {
		return nil, err
	}
	r := &segReader{f: f, fd: int(f.Fd()), dir: dir, name: s.name, index: s.index, next: s.index, hash: hash}
	if err := r.refresh(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func (r *segReader) path() string { return joinDir(r.dir, r.name) }

func (r *segReader) close() {
	if r != nil && r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// refresh fstats the open file.
func (r *segReader) refresh() error {
	st, err := statFD(r.fd, &r.sysst)
	if err != nil {
		return fmt.Errorf("stat %s: %w", r.path(), err)
	}
	r.st = st
	return nil
}

// changed reports whether the file was deleted or shrank under us.
func (r *segReader) changed() bool { return r.st.nlink == 0 || r.st.size < r.off }

// avail is how many bytes past off the file is known to hold.
func (r *segReader) avail() int64 {
	n := r.st.size - r.off
	if b := int64(r.w - r.r); b > n {
		n = b
	}
	return n
}

// fill makes at least want bytes buffered if the file holds them. It reports
// whether it could.
func (r *segReader) fill(want int) (bool, error) {
	if r.w-r.r >= want {
		return true, nil
	}
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	if len(r.buf)-r.r < want {
		if want > len(r.buf) {
			nb := make([]byte, max(want, 2*len(r.buf), readBufSize))
			r.w = copy(nb, r.buf[r.r:r.w])
			r.buf = nb
		} else {
			r.w = copy(r.buf, r.buf[r.r:r.w])
		}
		r.r = 0
	}
	for r.w-r.r < want {
		n, err := r.f.ReadAt(r.buf[r.w:], r.off+int64(r.w-r.r))
		r.w += n
		if err == io.EOF || (err == nil && n == 0) {
			return r.w-r.r >= want, nil
		}
		if err != nil {
			return false, fmt.Errorf("read %s: %w", r.path(), err)
		}
	}
	return true, nil
}

// consume drops n buffered bytes, hashing them.
func (r *segReader) consume(n int) {
	if r.hash {
		r.crc = crc32.Update(r.crc, castagnoli, r.buf[r.r:r.r+n])
	}
	r.r += n
	r.off += int64(n)
	if r.r == r.w && len(r.buf) > maxIdleBuf {
		r.buf = nil
		r.r, r.w = 0, 0
	}
}

// discard skips n bytes (the caller knows the file holds them).
func (r *segReader) discard(n int64) error {
	for n > 0 {
		if r.r == r.w {
			if !r.hash {
				r.off += n // nothing to hash: jump
				return nil
			}
			ok, err := r.fill(1)
			if err != nil {
				return err
			}
			if !ok {
				return io.ErrUnexpectedEOF
			}
		}
		k := int(min(n, int64(r.w-r.r)))
		r.consume(k)
		n -= int64(k)
	}
	return nil
}

// readFull reads len(p) bytes at the read position into p, consuming them.
// It bypasses the buffer for what is not buffered already, so a large entry
// is read once, straight into its own slice.
func (r *segReader) readFull(p []byte) error {
	k := copy(p, r.buf[r.r:r.w])
	if k > 0 {
		r.consume(k)
	}
	if k == len(p) {
		return nil
	}
	r.r, r.w = 0, 0
	n, err := r.f.ReadAt(p[k:], r.off)
	if n < len(p)-k {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read %s: %w", r.path(), err)
	}
	if r.hash {
		r.crc = crc32.Update(r.crc, castagnoli, p[k:])
	}
	r.off += int64(len(p) - k)
	return nil
}

// reopen switches to another file holding the same bytes [0, off) (a rename
// or a rewrite that kept our prefix), keeping the position.
func (r *segReader) reopen(s segFile) error {
	f, err := os.Open(joinDir(r.dir, s.name))
	if err != nil {
		return err
	}
	r.f.Close()
	r.f, r.fd, r.name = f, int(f.Fd()), s.name
	r.r, r.w = 0, 0
	r.sealed = false
	return r.refresh()
}

// prefixCRC returns the CRC-32C of the first n bytes of the file at path,
// or ok=false when it is shorter.
func prefixCRC(path string, n int64) (sum uint32, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	buf := make([]byte, min(n, readBufSize))
	var off int64
	for off < n {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), n-off)], off)
		sum = crc32.Update(sum, castagnoli, buf[:k])
		off += int64(k)
		if err == io.EOF {
			return sum, off == n, nil
		}
		if err != nil {
			return 0, false, err
		}
	}
	return sum, true, nil
}
