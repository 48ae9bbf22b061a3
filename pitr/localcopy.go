package pitr

import (
	"bufio"
	"bytes"
	"io"
	"os"

	"github.com/walship/walship/segments"
)

// memFetchMax is the largest segment object a restore keeps in memory once
// fetched; larger ones go to a temporary file. With at most Parallel+1
// segments fetched and not yet written, the memory they take stays under
// (Parallel+1) * memFetchMax, and a history of small one-second segments
// costs no file created, written, read and removed per segment. A
// variable so tests take both ways.
var memFetchMax int64 = 1 << 20

// localCopy is a fetched and checked segment object: its bytes in memory
// (data), or in a temporary file (path) when it is larger than
// memFetchMax. The zero value holds nothing.
type localCopy struct {
	path string
	data []byte
}

// open returns a reader of the copy and what closes it.
func (c localCopy) open() (io.Reader, func(), error) {
	if c.path == "" {
		return bytes.NewReader(c.data), func() {}, nil
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return bufio.NewReaderSize(f, segments.ReadBuffer(fi.Size())), func() { f.Close() }, nil
}

// remove deletes the temporary file, if any.
func (c localCopy) remove() {
	if c.path != "" {
		os.Remove(c.path)
	}
}
