package segments

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// Reader yields a segment's entries in index order, checking each entry's
// CRC32C as it goes and, at the end, the entry count and the SHA-256 of the
// whole stored payload. Next returns io.EOF only after all checks passed.
type Reader interface {
	Header() Header
	Next() (Entry, error)
	// Close releases the reader's buffers; it does not close the source.
	Close()
}

// versionReader opens the body of a segment whose first 10 bytes (magic and
// version) were read already.
type versionReader func(prefix []byte, r io.Reader, o ReadOptions) (Reader, error)

// readers maps each format version ever written to its reader. Adding a
// version adds an entry here (and in headerReaders) and a file beside v1's;
// v1's reader stays.
var readers = map[uint16]versionReader{
	Version1: openV1,
	Version2: openV2,
}

// headerReaders maps each version to what reads the rest of its header.
var headerReaders = map[uint16]func(prefix []byte, r io.Reader) (Header, error){
	Version1: readHeaderV1,
	Version2: readHeaderV2,
}

// NewReader reads a segment's header from r and returns a reader for its
// version. It holds no identity: an encrypted segment fails with
// crypt.ErrNoIdentity (see NewReaderWith).
func NewReader(r io.Reader) (Reader, error) {
	return NewReaderWith(r, ReadOptions{})
}

// NewReaderWith is NewReader with options: the identities that open an
// encrypted segment.
func NewReaderWith(r io.Reader, o ReadOptions) (Reader, error) {
	v, prefix, err := readPrefix(r)
	if err != nil {
		return nil, err
	}
	return readers[v](prefix, r, o)
}

// readPrefix reads the magic and the version, which must have a reader.
func readPrefix(r io.Reader) (uint16, []byte, error) {
	prefix := make([]byte, 10)
	if _, err := io.ReadFull(r, prefix); err != nil {
		return 0, nil, fmt.Errorf("%w: read segment header: %v", ErrCorrupt, err)
	}
	if string(prefix[:8]) != Magic {
		return 0, nil, fmt.Errorf("%w: not a walship segment (bad magic %q)", ErrCorrupt, prefix[:8])
	}
	v := binary.BigEndian.Uint16(prefix[8:])
	if _, ok := readers[v]; !ok {
		return 0, nil, fmt.Errorf("%w: segment format version %d (this walship reads %v); upgrade walship", ErrUnknownVersion, v, knownVersions())
	}
	return v, prefix, nil
}

func knownVersions() []uint16 {
	var vs []uint16
	for v := range readers {
		vs = append(vs, v)
	}
	return vs
}

// CheckStored reads a whole segment object from r and checks its header
// CRC, its payload length and its payload SHA-256, without decompressing.
// Per-entry CRCs are checked later, by Reader. It needs no identity: an
// encrypted segment's SHA-256 is of its ciphertext.
func CheckStored(r io.Reader) (Header, error) {
	v, prefix, err := readPrefix(r)
	if err != nil {
		return Header{}, err
	}
	h, err := headerReaders[v](prefix, r)
	if err != nil {
		return h, err
	}
	sha := sha256.New()
	n, err := io.Copy(sha, io.LimitReader(r, int64(h.PayloadLen)))
	if err != nil {
		return h, fmt.Errorf("read segment payload: %w", err)
	}
	if uint64(n) != h.PayloadLen {
		return h, fmt.Errorf("%w: payload is %d bytes, header says %d (truncated object)", ErrCorrupt, n, h.PayloadLen)
	}
	if err := checkSum(sha, h); err != nil {
		return h, err
	}
	return h, checkEnd(r)
}

func readHeaderV1(prefix []byte, r io.Reader) (Header, error) {
	b := make([]byte, HeaderSizeV1)
	copy(b, prefix)
	if _, err := io.ReadFull(r, b[len(prefix):]); err != nil {
		return Header{}, fmt.Errorf("%w: read segment header: %v", ErrCorrupt, err)
	}
	return unmarshalV1(b)
}

func checkSum(sha hash.Hash, h Header) error {
	var got [32]byte
	copy(got[:], sha.Sum(nil))
	if got != h.PayloadSHA {
		return fmt.Errorf("%w: payload SHA-256 %x, header says %x", ErrCorrupt, got[:8], h.PayloadSHA[:8])
	}
	return nil
}

// checkEnd makes sure nothing follows the payload.
func checkEnd(r io.Reader) error {
	var one [1]byte
	n, err := r.Read(one[:])
	if n > 0 {
		return fmt.Errorf("%w: bytes after the payload", ErrCorrupt)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read segment end: %w", err)
	}
	if err == nil {
		return checkEnd(r) // a reader may return 0, nil
	}
	return nil
}

type readerV1 struct {
	hdr     Header
	src     io.Reader
	stored  io.Reader // the payload bytes, hashed as they are read
	sha     hash.Hash // nil: checked by the caller (ReadOptions.Checked)
	dec     *zstd.Decoder
	raw     *bufio.Reader
	next    uint64 // index of the next entry
	rawLeft uint64
	frame   [frameHeaderSize]byte
	slab    []byte // where small entries' data is cut from (see data)
	err     error  // sticky
}

// Small entries' data is cut from slabs of slabSize bytes: one allocation
// per slab instead of one per entry (a log of 150-byte records restored
// spent a tenth of its CPU allocating them); a slab is never larger than
// what is left of the segment. Each entry's Data is capped at
// its own length, so appending to it never writes into the next one; a
// slab is freed once no entry cut from it is held.
const (
	slabSize  = 64 << 10
	slabEntry = 4 << 10 // entries up to this size come from a slab
)

// data reads the n bytes of an entry's data.
func (r *readerV1) data(n int) ([]byte, error) {
	if n > slabEntry {
		return readAtMost(r.raw, n)
	}
	if r.slab == nil || cap(r.slab)-len(r.slab) < n {
		// No larger than what is left of the segment: a small segment
		// takes what it holds, not a whole slab.
		r.slab = make([]byte, 0, max(n, int(min(slabSize, r.rawLeft))))
	}
	at := len(r.slab)
	r.slab = r.slab[:at+n]
	data := r.slab[at : at+n : at+n]
	_, err := io.ReadFull(r.raw, data)
	return data, err
}

func openV1(prefix []byte, r io.Reader, o ReadOptions) (Reader, error) {
	h, err := readHeaderV1(prefix, r)
	if err != nil {
		return nil, err
	}
	stored, sha := payloadOf(r, h, o)
	rd, err := newFramesReader(h, r, stored, sha)
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// payloadOf returns the stored payload of the segment with header h that
// r is positioned at, and the hash its bytes are fed to as they are read:
// nil when o.Checked (the caller hashed them already).
func payloadOf(r io.Reader, h Header, o ReadOptions) (io.Reader, hash.Hash) {
	payload := io.LimitReader(r, int64(h.PayloadLen))
	if o.Checked {
		return payload, nil
	}
	sha := sha256.New()
	return io.TeeReader(payload, sha), sha
}

// newFramesReader reads the frames of a segment with header h from stored,
// the codec's encoding of them, whose bytes as stored (hashed by sha) are
// src's up to the end of the payload.
func newFramesReader(h Header, src, stored io.Reader, sha hash.Hash) (*readerV1, error) {
	rd := &readerV1{hdr: h, src: src, sha: sha, next: h.First, rawLeft: h.RawLen, stored: stored}
	switch h.Codec {
	case CodecNone:
		rd.raw = bufio.NewReaderSize(rd.stored, rawBuffer(h.RawLen))
	case CodecZstd:
		rd.dec = decoders.Get()
		if err := rd.dec.Reset(rd.stored); err != nil {
			rd.Close()
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		// Decode no more than the header's raw length and one byte (to
		// see that the payload ends there): a small hostile payload cannot
		// make the reader decompress without end.
		rd.raw = bufio.NewReaderSize(io.LimitReader(rd.dec, int64(h.RawLen)+1), rawBuffer(h.RawLen))
	}
	return rd, nil
}

// readStep is the most a reader allocates ahead of the bytes it has read:
// a length field, which a hostile object sets at will, never decides an
// allocation alone.
const readStep = 1 << 20

// readAtMost reads exactly n bytes from r into a new slice. Memory grows
// with the bytes r actually yields (at most about twice them plus
// readStep), whatever n says, so a short stream behind a huge length fails
// cheaply.
func readAtMost(r io.Reader, n int) ([]byte, error) {
	if n <= readStep {
		data := make([]byte, n)
		_, err := io.ReadFull(r, data)
		return data, err
	}
	data := make([]byte, 0, readStep)
	for len(data) < n {
		if len(data) == cap(data) {
			data = slices.Grow(data, min(cap(data), n-len(data)))
		}
		k, err := io.ReadFull(r, data[len(data):min(cap(data), n)])
		data = data[:len(data)+k]
		if err != nil {
			return nil, err
		}
	}
	return data, nil
}

func (r *readerV1) Header() Header { return r.hdr }

func (r *readerV1) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	e, err := r.next1()
	if err != nil {
		r.err = err
	}
	return e, err
}

func (r *readerV1) next1() (Entry, error) {
	if r.next > r.hdr.Last {
		return Entry{}, r.finish()
	}
	if _, err := io.ReadFull(r.raw, r.frame[:]); err != nil {
		return Entry{}, r.corrupt("entry %d: frame header: %v", r.next, err)
	}
	idx := binary.BigEndian.Uint64(r.frame[0:])
	t := int64(binary.BigEndian.Uint64(r.frame[8:]))
	n := binary.BigEndian.Uint32(r.frame[16:])
	sum := binary.BigEndian.Uint32(r.frame[20:])
	if idx != r.next {
		return Entry{}, r.corrupt("frame holds index %d, want %d", idx, r.next)
	}
	if uint64(n)+frameHeaderSize > r.rawLeft || n > MaxEntrySize {
		return Entry{}, r.corrupt("entry %d: length %d exceeds the payload", idx, n)
	}
	data, err := r.data(int(n))
	if err != nil {
		return Entry{}, r.corrupt("entry %d: data: %v", idx, err)
	}
	if got := CRC32C(data); got != sum {
		return Entry{}, r.corrupt("entry %d: CRC32C %08x, frame says %08x", idx, got, sum)
	}
	r.rawLeft -= uint64(n) + frameHeaderSize
	r.next++
	return Entry{Index: idx, Time: t, Data: data}, nil
}

// finish checks that the payload ends where the header says and that its
// SHA-256 matches.
func (r *readerV1) finish() error {
	if r.rawLeft != 0 {
		return r.corrupt("%d raw payload bytes left after the last entry", r.rawLeft)
	}
	if _, err := r.raw.ReadByte(); err == nil {
		return r.corrupt("raw payload continues after the last entry")
	} else if !errors.Is(err, io.EOF) {
		return r.corrupt("payload end: %v", err)
	}
	// Drain what the codec did not need (zstd may stop before the limit).
	if _, err := io.Copy(io.Discard, r.stored); err != nil {
		return fmt.Errorf("read segment payload: %w", err)
	}
	if r.sha != nil {
		if err := checkSum(r.sha, r.hdr); err != nil {
			return err
		}
	}
	if err := checkEnd(r.src); err != nil {
		return err
	}
	return io.EOF
}

func (r *readerV1) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: segment %d..%d: %s", ErrCorrupt, r.hdr.First, r.hdr.Last, fmt.Sprintf(format, args...))
}

func (r *readerV1) Close() {
	if r.dec != nil {
		r.dec.Reset(nil)
		decoders.Put(r.dec)
		r.dec = nil
	}
	if r.err == nil {
		r.err = errors.New("segment reader closed")
	}
}
