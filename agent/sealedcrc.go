package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// crcLog is STATE/sealed.crc: the CRC32C of every sealed entry of the
// current timeline's history from a base index on. The fork check compares
// the source with it, so it covers every entry the recorded history claims
// to share with the source, however often the log was rewritten while the
// agent was down, without reading a store.
//
//	offset  size  field
//	0       8     magic "WSCRC001"
//	8       8     base: index of the first entry covered, little-endian
//	16      4*n   CRC32C(data) of entries base..base+n-1, little-endian
//
// Entries are appended and fsynced before the spool segment holding them is
// renamed into place, so the file covers every sealed entry. A crash can
// leave it longer than the state says (cut back on open) or with a torn
// last record (cut to whole records). A new timeline cuts it back to its
// fork, or, after a gap, starts it anew at the timeline's first entry. A
// state dir from before this file starts it at the next entry sealed; the
// fork check reads older entries from the spool and the stores.
//
// The sealer changes it; a snapshot reads it at freeze time.
type crcLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	base uint64
	n    uint64
}

const (
	crcMagic  = "WSCRC001"
	crcHeader = 16
)

func crcPath(dir string) string { return filepath.Join(dir, "sealed.crc") }

// openCRCLog opens dir's log and fits it to sealed, the last sealed entry.
func openCRCLog(dir string, sealed uint64) (*crcLog, error) {
	l := &crcLog{path: crcPath(dir)}
	if err := l.fit(sealed); err != nil {
		return nil, err
	}
	return l, nil
}

// fit (re)opens the file and makes it end at sealed: at start, and when the
// sealer starts over after a failure (a reset it could not finish, for a
// full state dir, leaves the file as it was before).
func (l *crcLog) fit(sealed uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	f, err := os.OpenFile(l.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return l.resetLocked(sealed + 1)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", l.path, err)
	}
	l.f = f
	var hdr [crcHeader]byte
	fi, err := f.Stat()
	if err == nil {
		_, err = f.ReadAt(hdr[:], 0)
	}
	if err != nil || string(hdr[:8]) != crcMagic {
		return l.resetLocked(sealed + 1) // unreadable: start covering anew
	}
	l.base = binary.LittleEndian.Uint64(hdr[8:])
	l.n = uint64(fi.Size()-crcHeader) / 4
	switch {
	case l.base > sealed+1 || l.base+l.n < sealed+1:
		// It does not reach the sealed entry (a state older than it, or
		// one restored by hand): cover from the next entry on.
		return l.resetLocked(sealed + 1)
	case l.base+l.n > sealed+1 || fi.Size() != int64(crcHeader+4*l.n):
		return l.truncateLocked(sealed)
	}
	return nil
}

// covers returns the covered range; ok is false when it is empty.
func (l *crcLog) covers() (from, to uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base, l.base + l.n - 1, l.n > 0
}

// appendCRCs adds the CRCs of entries first.. and makes them durable.
func (l *crcLog) appendCRCs(first uint64, crcs []uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(crcs) == 0 {
		return nil
	}
	if l.base+l.n != first { // not the next entry: cover from here on
		if err := l.resetLocked(first); err != nil {
			return err
		}
	}
	b := make([]byte, 4*len(crcs))
	for i, c := range crcs {
		binary.LittleEndian.PutUint32(b[4*i:], c)
	}
	if _, err := l.f.WriteAt(b, int64(crcHeader+4*l.n)); err != nil {
		l.f.Truncate(int64(crcHeader + 4*l.n)) // no partial CRCs past the last sealed entry (disk full)
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		l.f.Truncate(int64(crcHeader + 4*l.n))
		return fmt.Errorf("fsync %s: %w", l.path, err)
	}
	l.n += uint64(len(crcs))
	return nil
}

// truncate keeps the entries up to last.
func (l *crcLog) truncate(last uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truncateLocked(last)
}

func (l *crcLog) truncateLocked(last uint64) error {
	if last+1 < l.base {
		return l.resetLocked(last + 1)
	}
	l.n = min(l.n, last+1-l.base)
	if err := l.f.Truncate(int64(crcHeader + 4*l.n)); err != nil {
		return fmt.Errorf("truncate %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", l.path, err)
	}
	return nil
}

// reset empties the log; the next entry appended is base.
func (l *crcLog) reset(base uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resetLocked(base)
}

func (l *crcLog) resetLocked(base uint64) error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	var hdr [crcHeader]byte
	copy(hdr[:], crcMagic)
	binary.LittleEndian.PutUint64(hdr[8:], base)
	if err := writeFileAtomic(l.path, hdr[:]); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", l.path, err)
	}
	l.f, l.base, l.n = f, base, 0
	return nil
}

// read calls fn with the CRC of every entry lo..hi, which must be covered.
func (l *crcLog) read(lo, hi uint64, fn func(idx uint64, crc uint32) bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lo < l.base || hi >= l.base+l.n {
		return fmt.Errorf("read %s: entries %d..%d are not all covered (%d..%d)", l.path, lo, hi, l.base, l.base+l.n-1)
	}
	const batch = 16 << 10
	buf := make([]byte, 4*batch)
	for lo <= hi {
		k := min(hi-lo+1, batch)
		b := buf[:4*k]
		if _, err := l.f.ReadAt(b, int64(crcHeader+4*(lo-l.base))); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", l.path, err)
		}
		for i := uint64(0); i < k; i++ {
			if !fn(lo+i, binary.LittleEndian.Uint32(b[4*i:])) {
				return nil
			}
		}
		lo += k
	}
	return nil
}

func (l *crcLog) close() {
	if l != nil && l.f != nil {
		l.f.Close()
	}
}
