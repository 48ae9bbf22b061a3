package segments

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/walship/walship/crypt"
)

// EncryptV1 writes to sink a version 2 segment, encrypted to recipients,
// holding the version 1 segment read from src: the v1 payload (the codec's
// encoding of the frames) is sealed as it is, never decompressed, so the
// result is what NewWriterV2 would have written for the same entries and
// codec. The agent compresses a segment once and encrypts it once per
// recipient set this way.
//
// src's header CRC, payload length and payload SHA-256 are checked while
// it streams (a damaged source fails with ErrCorrupt and sink holds
// garbage); nothing may follow the payload. Memory is bounded by the
// envelope's chunk. The caller syncs the sink. It returns the new header.
func EncryptV1(sink Sink, src io.Reader, recipients []*crypt.Recipient) (Header, error) {
	v, prefix, err := readPrefix(src)
	if err != nil {
		return Header{}, err
	}
	if v != Version1 {
		return Header{}, fmt.Errorf("encrypt segment: source is version %d, want %d", v, Version1)
	}
	h, err := readHeaderV1(prefix, src)
	if err != nil {
		return h, err
	}
	fps := crypt.Fingerprints(recipients)
	if len(fps) == 0 || len(fps) > MaxRecipients {
		return h, fmt.Errorf("encrypt segment %d..%d: %d recipients, want 1..%d", h.First, h.Last, len(fps), MaxRecipients)
	}
	if _, err := sink.Write(make([]byte, headerSizeV2(len(fps)))); err != nil {
		return h, fmt.Errorf("encrypt segment %d..%d: reserve header: %w", h.First, h.Last, err)
	}
	outSHA := sha256.New()
	stored := countWriter{w: io.MultiWriter(sink, outSHA)}
	seal, err := crypt.Seal(&stored, recipients)
	if err != nil {
		return h, fmt.Errorf("encrypt segment %d..%d: %w", h.First, h.Last, err)
	}
	inSHA := sha256.New()
	n, err := io.Copy(io.MultiWriter(seal, inSHA), io.LimitReader(src, int64(h.PayloadLen)))
	if err != nil {
		return h, fmt.Errorf("encrypt segment %d..%d: %w", h.First, h.Last, err)
	}
	if uint64(n) != h.PayloadLen {
		return h, fmt.Errorf("encrypt segment %d..%d: %w: payload is %d bytes, header says %d", h.First, h.Last, ErrCorrupt, n, h.PayloadLen)
	}
	if err := checkSum(inSHA, h); err != nil {
		return h, fmt.Errorf("encrypt segment %d..%d: %w", h.First, h.Last, err)
	}
	if err := checkEnd(src); err != nil {
		return h, fmt.Errorf("encrypt segment %d..%d: %w", h.First, h.Last, err)
	}
	if err := seal.Close(); err != nil {
		return h, fmt.Errorf("encrypt segment %d..%d: %w", h.First, h.Last, err)
	}
	h.Version = Version2
	h.Recipients = fps
	h.PayloadLen = uint64(stored.n)
	copy(h.PayloadSHA[:], outSHA.Sum(nil))
	if _, err := sink.WriteAt(h.marshalV2(), 0); err != nil {
		return h, fmt.Errorf("encrypt segment %d..%d: write header: %w", h.First, h.Last, err)
	}
	return h, nil
}
