package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/walship/walship/lease"
	"github.com/walship/walship/segments"
)

// formatSupport says which versions of one kind of object this build
// writes and reads.
type formatSupport struct {
	Object string `json:"object"`
	Writes int    `json:"writes"`
	Reads  []int  `json:"reads"`
}

// The versions are not a list kept here: each object is made by the
// package that writes it, its version read from its bytes, and the
// package's own decoder is asked, version by version, whether it has a
// reader (anything but segments.ErrUnknownVersion means it has). So the
// answer changes when segments/ gains a version, without a word here.

// maxProbedVersion is the highest version asked about.
const maxProbedVersion = 32

// objectFormat is how one kind of object is made, labelled and read.
type objectFormat struct {
	name   string
	sample func() ([]byte, error)
	family formatFamily
	decode func([]byte) error
}

// formatFamily is where an object keeps its version: a binary header
// (magic, then a big-endian uint16) or a JSON envelope ("version").
type formatFamily interface {
	version(obj []byte) (int, error)
	relabel(obj []byte, v int) ([]byte, error)
}

// objectFormats looks at every kind of object the segments package reads
// and writes, and the lease record.
func objectFormats() ([]formatSupport, error) {
	kinds := []objectFormat{
		{"segment", sampleSegment, binaryHeader{}, func(b []byte) error {
			_, err := segments.NewReader(bytes.NewReader(b))
			return err
		}},
		{"chunk", sampleChunk, binaryHeader{}, func(b []byte) error {
			_, err := segments.DecodeChunk(b, segments.DigestOf(sampleRaw))
			return err
		}},
		{"snapshot", sampleSnapshot, envelope{}, func(b []byte) error {
			_, err := segments.DecodeSnapshot(b)
			return err
		}},
		{"timeline", func() ([]byte, error) {
			return segments.EncodeTimeline(segments.Timeline{ID: 1, StartIndex: 1, Time: time.Unix(1, 0).UTC()})
		}, envelope{}, func(b []byte) error {
			_, err := segments.DecodeTimeline(b)
			return err
		}},
		{"restore point", func() ([]byte, error) {
			return segments.EncodePoint(segments.Point{Name: "v", Timeline: 1, Index: 1})
		}, envelope{}, func(b []byte) error {
			_, err := segments.DecodePoint(b)
			return err
		}},
	}
	var out []formatSupport
	var errs []error
	for _, k := range kinds {
		fs, err := k.support()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s format: %w", k.name, err))
			continue
		}
		out = append(out, fs)
	}
	// The lease record belongs to package lease, which reads only the
	// version it writes.
	out = append(out, formatSupport{Object: "lease", Writes: lease.Version, Reads: []int{lease.Version}})
	return out, errors.Join(errs...)
}

func (k objectFormat) support() (formatSupport, error) {
	obj, err := k.sample()
	if err != nil {
		return formatSupport{}, err
	}
	w, err := k.family.version(obj)
	if err != nil {
		return formatSupport{}, err
	}
	fs := formatSupport{Object: k.name, Writes: w}
	for v := range maxProbedVersion + 1 {
		b, err := k.family.relabel(obj, v)
		if err != nil {
			return formatSupport{}, err
		}
		if !errors.Is(k.decode(b), segments.ErrUnknownVersion) {
			fs.Reads = append(fs.Reads, v)
		}
	}
	if !slices.Contains(fs.Reads, w) {
		return fs, fmt.Errorf("writes version %d but reads only %v", w, fs.Reads)
	}
	return fs, nil
}

type binaryHeader struct{}

func (binaryHeader) version(obj []byte) (int, error) {
	if len(obj) < 10 {
		return 0, fmt.Errorf("object of %d bytes has no header", len(obj))
	}
	return int(binary.BigEndian.Uint16(obj[8:10])), nil
}

func (binaryHeader) relabel(obj []byte, v int) ([]byte, error) {
	b := bytes.Clone(obj)
	binary.BigEndian.PutUint16(b[8:10], uint16(v))
	return b, nil
}

type envelope struct{}

func (envelope) version(obj []byte) (int, error) {
	var e struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(obj, &e); err != nil || e.Version == nil {
		return 0, fmt.Errorf("record without a version (%v)", err)
	}
	return *e.Version, nil
}

func (envelope) relabel(obj []byte, v int) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	m["version"] = json.RawMessage(fmt.Sprint(v))
	return json.Marshal(m)
}

// sampleRaw is the content of the sample segment entry and chunk.
var sampleRaw = []byte("walship version")

func sampleSegment() ([]byte, error) {
	var sink memSink
	w, err := segments.NewWriter(&sink, 1, 1, segments.CodecNone)
	if err != nil {
		return nil, err
	}
	if err := w.Append(segments.Entry{Index: 1, Time: 1, Data: sampleRaw}); err != nil {
		w.Abort()
		return nil, err
	}
	if _, err := w.Finish(); err != nil {
		return nil, err
	}
	return sink.b, nil
}

func sampleChunk() ([]byte, error) { return segments.EncodeChunk(nil, sampleRaw, segments.CodecNone) }

func sampleSnapshot() ([]byte, error) {
	return segments.EncodeSnapshot(segments.SnapshotManifest{
		ID: strings.Repeat("0", segments.SnapshotIDLen), Timeline: 1, Index: 1, Time: time.Unix(1, 0).UTC(),
		Source: segments.SnapshotSource{Method: segments.MethodAPI}, ChunkSize: 1,
	})
}

// memSink is a segments.Sink in memory.
type memSink struct{ b []byte }

func (s *memSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *memSink) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(s.b) {
		s.b = append(s.b, make([]byte, end-len(s.b))...)
	}
	return copy(s.b[off:], p), nil
}
