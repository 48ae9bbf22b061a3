package pitr

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/walship/walship/wal"
)

// The log is written byte for byte as github.com/tidwall/wal v1.2.1 writes
// it, so that wal.Open reads it as its own:
//
//	directory: one file per segment, named %020d by the index of its first
//	           entry; a file is closed once it has reached SegmentSize
//	           bytes (the entry that crosses the size is its last)
//	binary:    uvarint(len(data)) data
//	JSON:      {"index":"N","data":"+<text>"}\n   data valid UTF-8: the
//	                                              json.Marshal of the string
//	                                              without its opening quote
//	           {"index":"N","data":"$<base64url>"}\n  otherwise
//
// tidwall creates an empty next file when the last entry fills a file; the
// restore does not, and wal.Open does not need it.
//
// A log without entries (a restore whose base snapshot holds the target)
// is one empty file named by the index the next entry will carry, which is
// how tidwall leaves a log emptied by truncation: tidwall opens it with
// AllowEmpty (FirstIndex = next, LastIndex = next-1) and appends at next.

// The restored log is a copy of the database's: owner-only, stricter than
// tidwall's defaults (0640 and 0750); chmod it if the database's user or
// group differs.
const (
	logFilePerm = 0o600
	logDirPerm  = 0o700
)

// DefaultSegmentSize is tidwall/wal's default segment file size.
const DefaultSegmentSize = 20 << 20

// logWriter appends consecutive entries to a new tidwall/wal directory.
type logWriter struct {
	dir     string
	format  wal.Format
	segSize int64
	next    uint64 // index the next Append must carry
	f       *os.File
	bw      *bufio.Writer
	size    int64 // bytes in the open file
	files   int
	bytes   int64
	buf     []byte
	syncer  *fileSyncer // started with the first finished file
}

// newLogWriter prepares an empty directory dir for a log whose first entry
// is first.
func newLogWriter(dir string, format wal.Format, segSize int64, first uint64) (*logWriter, error) {
	if format != wal.FormatBinary && format != wal.FormatJSON {
		return nil, fmt.Errorf("write log %s: unsupported format %s", dir, format)
	}
	if err := os.Mkdir(dir, logDirPerm); err != nil {
		return nil, fmt.Errorf("write log: %w", err)
	}
	return &logWriter{dir: dir, format: format, segSize: segSize, next: first}, nil
}

// Append writes the entry with the next index.
func (w *logWriter) Append(index uint64, data []byte) error {
	if index != w.next {
		return fmt.Errorf("write log %s: entry %d out of order, want %d", w.dir, index, w.next)
	}
	if w.f == nil {
		if err := w.openFile(index); err != nil {
			return err
		}
	}
	w.buf = appendEntry(w.buf[:0], w.format, index, data)
	var err error
	if w.format == wal.FormatBinary {
		// Write the length prefix, then the data, without copying the data.
		if _, err = w.bw.Write(w.buf); err == nil {
			_, err = w.bw.Write(data)
		}
	} else {
		_, err = w.bw.Write(w.buf)
	}
	if err != nil {
		return fmt.Errorf("write log file %s: %w", w.f.Name(), err)
	}
	n := int64(len(w.buf))
	if w.format == wal.FormatBinary {
		n += int64(len(data))
	}
	w.size += n
	w.bytes += n
	w.next++
	if w.size >= w.segSize {
		return w.closeFile()
	}
	return nil
}

// appendEntry encodes one entry as tidwall does; for the binary format only
// the length prefix (the caller writes the data after it).
func appendEntry(dst []byte, format wal.Format, index uint64, data []byte) []byte {
	if format == wal.FormatBinary {
		return binary.AppendUvarint(dst, uint64(len(data)))
	}
	dst = append(dst, `{"index":"`...)
	dst = strconv.AppendUint(dst, index, 10)
	dst = append(dst, `","data":`...)
	if utf8.Valid(data) {
		b, _ := json.Marshal(string(data)) // a string always marshals
		dst = append(dst, '"', '+')
		dst = append(dst, b[1:]...)
	} else {
		dst = append(dst, '"', '$')
		dst = base64.URLEncoding.AppendEncode(dst, data)
		dst = append(dst, '"')
	}
	return append(dst, '}', '\n')
}

func (w *logWriter) openFile(first uint64) error {
	name := filepath.Join(w.dir, fmt.Sprintf("%020d", first))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, logFilePerm)
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	w.f, w.size, w.files = f, 0, w.files+1
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, 1<<20)
	} else {
		w.bw.Reset(f)
	}
	return nil
}

// closeFile flushes the open file and hands it to the syncer, which
// fsyncs and closes it while the next file fills.
func (w *logWriter) closeFile() error {
	f := w.f
	w.f = nil
	if err := w.bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write log file %s: %w", f.Name(), err)
	}
	if w.syncer == nil {
		w.syncer = startSyncer()
	}
	return w.syncer.add(f)
}

// Close finishes the open file, waits until every file is fsynced and
// closed, and fsyncs the directory. A log without entries gets its one
// empty file, named by the next index.
func (w *logWriter) Close() error {
	if w.files == 0 {
		if err := w.openFile(w.next); err != nil {
			return err
		}
	}
	if w.f != nil {
		if err := w.closeFile(); err != nil {
			w.abort()
			return err
		}
	}
	if w.syncer != nil {
		s := w.syncer
		w.syncer = nil
		if err := s.wait(); err != nil {
			return err
		}
	}
	return syncDir(w.dir)
}

// abort closes the files without caring about their content; the caller
// removes the directory.
func (w *logWriter) abort() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.syncer != nil {
		w.syncer.wait()
		w.syncer = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
