package testwal

import (
	"math"
	"math/rand/v2"
)

// Entry returns the deterministic pseudo-random data of entry index for
// seed: the same arguments always give the same bytes. Sizes spread from 0
// up to maxSize: about 8% are empty, 2% are within 64 bytes of maxSize, most
// are small (up to 256 bytes) or medium (up to 4 KiB), and 5% are spread
// log-uniformly up to maxSize. Half of the non-empty entries are valid UTF-8
// text (ASCII with quotes, backslashes, control and multi-byte characters),
// the other half binary that is not valid UTF-8, so a JSON log stores both
// as "+text" and "$base64".
func Entry(seed int64, index uint64, maxSize int) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), index*0x9e3779b97f4a7c15+0x632be59bd9b4e019))
	n := entrySize(rng, maxSize)
	if n == 0 {
		return []byte{}
	}
	if rng.IntN(2) == 0 {
		return textEntry(rng, n)
	}
	return binaryEntry(rng, n)
}

func entrySize(rng *rand.Rand, maxSize int) int {
	if maxSize <= 0 {
		return 0
	}
	switch p := rng.IntN(100); {
	case p < 8:
		return 0
	case p < 10:
		return maxSize - rng.IntN(min(maxSize, 64))
	case p < 70:
		return 1 + rng.IntN(min(maxSize, 256))
	case p < 95:
		return 1 + rng.IntN(min(maxSize, 4096))
	}
	return min(maxSize, int(math.Exp(rng.Float64()*math.Log(float64(maxSize+1)))))
}

// pieces of text that exercise JSON escaping: quotes, backslashes,
// controls, HTML characters, 2-, 3- and 4-byte runes, U+2028.
var textPieces = []string{"\"", "\\", "\n", "\t", "\x01", "<", ">", "&", "é", "€", "😀", "\u2028", "/"}

const textChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_={}[]"

func textEntry(rng *rand.Rand, n int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		if rng.IntN(16) == 0 {
			p := textPieces[rng.IntN(len(textPieces))]
			if len(b)+len(p) <= n {
				b = append(b, p...)
				continue
			}
		}
		// Runs of plain characters keep big entries cheap to make.
		run := min(n-len(b), 1+rng.IntN(48))
		for range run {
			b = append(b, textChars[rng.IntN(len(textChars))])
		}
	}
	return b
}

func binaryEntry(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[0] = 0xff // never valid UTF-8
	return b
}
