package pitr

// bits is a set of positions in a listing, a bit each: what verify keeps
// per listed segment (intact; selected by --since) is an eighth of a byte,
// not a bool's byte.
type bits []uint64

func newBits(n int) bits { return make(bits, (n+63)/64) }

func (b bits) set(i int, v bool) {
	if v {
		b[i/64] |= 1 << (i % 64)
	} else {
		b[i/64] &^= 1 << (i % 64)
	}
}

func (b bits) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

// and is the set of positions in both b and c.
func (b bits) and(c bits) bits {
	out := make(bits, len(b))
	for i := range b {
		out[i] = b[i] & c[i]
	}
	return out
}
