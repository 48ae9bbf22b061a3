package pitr

import (
	"bufio"
	"fmt"

	"github.com/walship/walship/segments"
)

// sealedSegment checks an encrypted segment that no identity given opens,
// as far as that is possible without a key: the header (CRC, against the
// key), the size and the SHA-256 of the ciphertext. Its entries are
// counted from the header; their CRCs are not checked.
func sealedSegment(cr *countReader, br *bufio.Reader, s SegmentInfo) (uint64, error) {
	h, err := segments.CheckStored(br)
	if err != nil {
		return 0, readProblem(cr, s.Key(), err)
	}
	if err := checkName(s.Key(), s.Name, h); err != nil {
		return 0, err
	}
	if cr.n != s.Size {
		return 0, fmt.Errorf("%w: %d bytes read, the listing says %d", segments.ErrCorrupt, cr.n, s.Size)
	}
	return h.Count, nil
}

// peek returns up to n bytes br holds next, without consuming them (fewer
// at the end of the object; an error is met again by the next read).
func peek(br *bufio.Reader, n int) []byte {
	b, _ := br.Peek(n)
	return b
}
