package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// AppendFrames appends count entries that r holds already framed as the
// raw payload frames them (format.go: index, time, length, CRC32C of the
// data, then the data; the agent's spill holds its entries so). Each frame
// header is checked as AppendCRC checks an entry (the index follows the
// last one, the length is at most MaxEntrySize) and counted into the
// header, before the bytes holding it reach the codec; the bytes go to the
// codec as read, a buffer at a time, not an entry at a time. r must end
// after the count-th frame. The CRC32Cs are the caller's, as with
// AppendCRC.
//
// On an error the segment is unusable: Abort it.
func (w *Writer) AppendFrames(r io.Reader, count int) error {
	if w.done {
		return errors.New("segment writer: append after finish")
	}
	bp := frameBufs.Get()
	defer frameBufs.Put(bp)
	buf := *bp
	var (
		hdr     [frameHeaderSize]byte
		have    int    // bytes of hdr gathered
		pending uint64 // data bytes of the current frame not yet read
		seen    int    // frames whose header was read
	)
	for {
		n, rerr := io.ReadFull(r, buf)
		chunk := buf[:n]
		for i := 0; i < len(chunk); {
			if pending > 0 {
				k := min(pending, uint64(len(chunk)-i))
				i += int(k)
				pending -= k
				continue
			}
			k := copy(hdr[have:], chunk[i:])
			have += k
			i += k
			if have < frameHeaderSize {
				continue
			}
			have = 0
			if seen == count {
				return fmt.Errorf("segment writer: more than %d frames", count)
			}
			seen++
			size, err := w.addFrame(hdr[:])
			if err != nil {
				return err
			}
			pending = size
		}
		if _, err := w.raw.Write(chunk); err != nil {
			return fmt.Errorf("segment writer: entry %d: %w", w.hdr.Last, err)
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			if seen != count || have != 0 || pending != 0 {
				return fmt.Errorf("segment writer: frames end after %d of %d entries (%d header and %d data bytes missing)",
					seen, count, (frameHeaderSize-have)%frameHeaderSize, pending)
			}
			return nil
		case rerr != nil:
			return fmt.Errorf("segment writer: read frames: %w", rerr)
		}
	}
}

// addFrame checks a frame header and counts its entry into the segment's
// header; it returns the entry's data length.
func (w *Writer) addFrame(h []byte) (uint64, error) {
	idx := binary.BigEndian.Uint64(h[0:])
	t := int64(binary.BigEndian.Uint64(h[8:]))
	size := binary.BigEndian.Uint32(h[16:])
	switch {
	case w.hdr.Count > 0 && idx != w.hdr.Last+1:
		return 0, fmt.Errorf("segment writer: entry %d follows %d", idx, w.hdr.Last)
	case idx == 0:
		return 0, errors.New("segment writer: entry index 0")
	case size > MaxEntrySize:
		return 0, fmt.Errorf("segment writer: entry %d is %d bytes, max %d", idx, size, MaxEntrySize)
	}
	if w.hdr.Count == 0 {
		w.hdr.First = idx
	}
	w.hdr.Last = idx
	w.hdr.Count++
	w.hdr.RawLen += RawSize(int(size))
	w.hdr.MinTime = min(w.hdr.MinTime, t)
	w.hdr.MaxTime = max(w.hdr.MaxTime, t)
	return uint64(size), nil
}

// frameBufs are AppendFrames' read buffers: one per segment being sealed,
// kept as the encoders are (codecs.go).
var frameBufs = &cache[*[]byte]{limit: 4, make: func() *[]byte { b := make([]byte, 256<<10); return &b }}
