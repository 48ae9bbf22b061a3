package segments

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MaxChunkHeaderSize is the most bytes a chunk header of any version takes:
// a reader that only wants to know how a chunk is stored fetches this much.
var MaxChunkHeaderSize = chunkHeaderSizeV2(MaxRecipients)

// ReadChunkHeader reads and checks (CRC, lengths, flags) the header of a
// chunk of any version from r, nothing after it: how the chunk is stored
// (version, codec, lengths, recipients), with Opened and Named false. The
// payload is not checked; CheckChunk and ReadChunkWith do that.
func ReadChunkHeader(r io.Reader) (ChunkInfo, error) {
	prefix := make([]byte, 10)
	if _, err := io.ReadFull(r, prefix); err != nil {
		return ChunkInfo{}, fmt.Errorf("%w: chunk header: %v", ErrCorrupt, err)
	}
	if string(prefix[:8]) != ChunkMagic {
		return ChunkInfo{}, fmt.Errorf("%w: not a walship chunk (bad magic %q)", ErrCorrupt, prefix[:8])
	}
	switch v := binary.BigEndian.Uint16(prefix[8:]); v {
	case ChunkVersion1:
		b := make([]byte, ChunkHeaderSizeV1)
		copy(b, prefix)
		if _, err := io.ReadFull(r, b[len(prefix):]); err != nil {
			return ChunkInfo{}, fmt.Errorf("%w: chunk header: %v", ErrCorrupt, err)
		}
		h, err := parseChunkHeaderV1(b)
		return ChunkInfo{Version: ChunkVersion1, Codec: h.Codec, RawLen: h.RawLen, StoredLen: h.StoredLen}, err
	case ChunkVersion2:
		h, err := readChunkHeaderV2(prefix, r)
		return h.info, err
	default:
		return ChunkInfo{}, fmt.Errorf("%w: chunk format version %d; upgrade walship", ErrUnknownVersion, v)
	}
}
