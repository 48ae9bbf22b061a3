package faultcheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	tidwal "github.com/tidwall/wal"
)

// meta is what the model keeps of one written entry: enough to make its
// payload again, so a 4 MiB entry costs a few words of memory.
type meta struct {
	gen  uint32 // how many TruncateBacks came before this write
	size int
	ns   int64 // unix ns at write (the be64 prefix when stamped)
}

// Lineage is the model of the source's history: for every index the entry
// the current log holds or held there. TruncateFront keeps entries (they
// were the history); TruncateBack forgets those past the new end, and a
// later write at the same index replaces them.
//
// It also keeps every version ever written at an index with the time it
// left the source (overwritten after a TruncateBack, or cut by a
// TruncateFront). A rewrite the agent never saw -- written and gone again
// while no agent ran -- cannot be known to anyone: a restore may then
// still give the version it replaced. Seen decides which versions the
// agent saw (run.go: a /status sample showed the agent past that index
// while the version was in the source); nil means all of them, the
// strictest oracle.
type Lineage struct {
	Seed    int64
	Run     int
	Stamped bool
	First   uint64 // the source log's first index now
	Last    uint64 // its last index (0: empty)
	ents    map[uint64]meta
	vers    map[uint64][]*Version
	Seen    func(i uint64, v *Version) bool
}

// Version is one write at an index and when it left the source (0: it is
// still there).
type Version struct {
	meta
	Gone int64 // unix ns
}

// NewLineage is an empty history.
func NewLineage(seed int64, run int, stamped bool) *Lineage {
	return &Lineage{Seed: seed, Run: run, Stamped: stamped, ents: map[uint64]meta{}, vers: map[uint64][]*Version{}}
}

func (l *Lineage) seen(i uint64, v *Version) bool { return l.Seen == nil || l.Seen(i, v) }

// Accept says whether data is a right answer for index i: the history's
// entry, or an older version whose every rewrite the agent never saw. It
// returns the written time (unix ns) of the version data matched.
func (l *Lineage) Accept(i uint64, data []byte) (ok bool, ns int64, older bool) {
	if m, has := l.ents[i]; has && i <= l.Last && bytes.Equal(data, payload(l.Seed, l.Run, l.Stamped, i, m)) {
		return true, m.ns, false
	}
	vs := l.vers[i]
	for k, v := range vs {
		if v.meta == l.ents[i] && i <= l.Last {
			continue // the current one, compared above
		}
		if !bytes.Equal(data, payload(l.Seed, l.Run, l.Stamped, i, v.meta)) {
			continue
		}
		if i > l.Last && len(vs[k+1:]) == 0 {
			return false, 0, false // truncated back and never written again: every agent run sees that
		}
		for _, newer := range vs[k+1:] {
			if l.seen(i, newer) {
				return false, 0, false
			}
		}
		return true, v.ns, true
	}
	return false, 0, false
}

// SeenAt says whether the history's entry at i was seen by the agent.
func (l *Lineage) SeenAt(i uint64) bool {
	vs := l.vers[i]
	if len(vs) == 0 || i > l.Last {
		return true
	}
	return l.seen(i, vs[len(vs)-1])
}

// Has says whether index is in the history.
func (l *Lineage) Has(i uint64) bool { _, ok := l.ents[i]; return ok && i <= l.Last }

// Entry is the payload the history holds at index i.
func (l *Lineage) Entry(i uint64) ([]byte, bool) {
	m, ok := l.ents[i]
	if !ok || i > l.Last {
		return nil, false
	}
	return payload(l.Seed, l.Run, l.Stamped, i, m), true
}

// Time is when index i was written (unix ns).
func (l *Lineage) Time(i uint64) (int64, bool) {
	m, ok := l.ents[i]
	return m.ns, ok && i <= l.Last
}

// LastAtOrBefore is the newest index of the history written at or before
// ns, and whether there is one. History times never decrease with the
// index: a rewrite after TruncateBack is later than what it kept.
func (l *Lineage) LastAtOrBefore(ns int64) (uint64, bool) {
	var best uint64
	found := false
	for i, m := range l.ents {
		if i <= l.Last && m.ns <= ns && i > best {
			best, found = i, true
		}
	}
	return best, found
}

// Oldest is the smallest index in the history.
func (l *Lineage) Oldest() uint64 {
	var o uint64
	for i := range l.ents {
		if i <= l.Last && (o == 0 || i < o) {
			o = i
		}
	}
	return o
}

func (l *Lineage) add(i uint64, m meta) {
	l.ents[i] = m
	l.vers[i] = append(l.vers[i], &Version{meta: m})
	l.Last = i
	if l.First == 0 {
		l.First = i
	}
}

func (l *Lineage) truncateBack(i uint64) {
	now := time.Now().UnixNano()
	for j := range l.ents {
		if j > i {
			delete(l.ents, j)
			if vs := l.vers[j]; len(vs) > 0 && vs[len(vs)-1].Gone == 0 {
				vs[len(vs)-1].Gone = now
			}
		}
	}
	l.Last = i
}

func (l *Lineage) truncateFront(first uint64) {
	now := time.Now().UnixNano()
	for j := l.First; j < first; j++ {
		if vs := l.vers[j]; len(vs) > 0 && vs[len(vs)-1].Gone == 0 {
			vs[len(vs)-1].Gone = now
		}
	}
	l.First = first
}

// payload is the unique entry written at index i: a header naming (seed,
// run, generation, index) after the 8-byte big-endian unix-ns time when
// stamped, then bytes drawn from the same; cut to m.size. Entries too short
// for the header are still determined by it.
func payload(seed int64, run int, stamped bool, i uint64, m meta) []byte {
	b := make([]byte, 0, max(m.size, 64))
	if stamped {
		b = binary.BigEndian.AppendUint64(b, uint64(m.ns))
	}
	text := (i+uint64(m.gen))%2 == 0 && !stamped
	if text {
		b = fmt.Appendf(b, "fc s=%d r=%d g=%d i=%d |", seed, run, m.gen, i)
	} else {
		b = append(b, 0xff, 'F', 'C')
		b = binary.AppendUvarint(b, uint64(seed))
		b = binary.AppendUvarint(b, uint64(run))
		b = binary.AppendUvarint(b, uint64(m.gen))
		b = binary.AppendUvarint(b, i)
	}
	rng := rand.New(rand.NewPCG(uint64(seed)^uint64(run)<<40, i<<8|uint64(m.gen)))
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_{}[]\"\\/<>&"
	for len(b) < m.size {
		v := rng.Uint64()
		for k := 0; k < 8 && len(b) < m.size; k++ {
			if text {
				b = append(b, chars[int(v>>(8*k)&0xff)%len(chars)])
			} else {
				b = append(b, byte(v>>(8*k)))
			}
		}
	}
	return b[:m.size]
}

// sizes draws n entry sizes from seed: mostly small, some medium, a few
// large (up to 1 MiB; append_large goes to 4 MiB). Stamped entries are at
// least 8 bytes (the time prefix).
func sizes(seed uint64, n int, stamped bool) []int {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]int, n)
	for k := range out {
		var s int
		switch p := rng.IntN(100); {
		case p < 6:
			s = 0
		case p < 70:
			s = 1 + rng.IntN(256)
		case p < 95:
			s = 257 + rng.IntN(4096)
		case p < 99:
			s = 4096 + rng.IntN(60<<10)
		default:
			s = int(math.Exp(math.Log(64<<10) + rng.Float64()*(math.Log(1<<20)-math.Log(64<<10))))
		}
		if stamped {
			s = max(s, 8)
		}
		out[k] = s
	}
	return out
}

// Source is the database: a tidwall/wal log this process writes, as the
// agent (another process) tails it, and the Lineage of what it wrote.
type Source struct {
	Dir     string
	log     *tidwal.Log
	lin     *Lineage
	gen     uint32
	Written int // entries written, rewrites included
	Bytes   int64
}

// OpenSource creates the log in dir.
func OpenSource(dir string, p *Plan) (*Source, error) {
	f := tidwal.Binary
	if p.Format == "json" {
		f = tidwal.JSON
	}
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: f, SegmentSize: p.SegmentSize, NoSync: true})
	if err != nil {
		return nil, fmt.Errorf("open source log %s: %w", dir, err)
	}
	return &Source{Dir: dir, log: l, lin: NewLineage(p.Seed, p.Run, p.Stamped())}, nil
}

// Lineage is the model of what the source wrote.
func (s *Source) Lineage() *Lineage { return s.lin }

// Append writes entries of the given sizes after the last one.
func (s *Source) Append(szs []int) error {
	var b tidwal.Batch
	next := s.lin.Last + 1
	ms := make([]meta, len(szs))
	for k, sz := range szs {
		ms[k] = meta{gen: s.gen, size: sz, ns: time.Now().UnixNano()}
		b.Write(next+uint64(k), payload(s.lin.Seed, s.lin.Run, s.lin.Stamped, next+uint64(k), ms[k]))
		s.Bytes += int64(sz)
	}
	if err := s.log.WriteBatch(&b); err != nil {
		return fmt.Errorf("write entries %d..%d: %w", next, next+uint64(len(szs))-1, err)
	}
	for k, m := range ms {
		s.lin.add(next+uint64(k), m)
	}
	s.Written += len(szs)
	return nil
}

// TruncateFront drops the entries before index (tidwall's TruncateFront).
func (s *Source) TruncateFront(index uint64) error {
	if err := s.log.TruncateFront(index); err != nil {
		return fmt.Errorf("truncate front to %d: %w", index, err)
	}
	s.lin.truncateFront(index)
	return nil
}

// TruncateBack drops the entries after index; later writes are a new
// generation, so the rewritten entries differ from those dropped.
func (s *Source) TruncateBack(index uint64) error {
	if err := s.log.TruncateBack(index); err != nil {
		return fmt.Errorf("truncate back to %d: %w", index, err)
	}
	s.lin.truncateBack(index)
	s.gen++
	return nil
}

// Close closes the log.
func (s *Source) Close() error { return s.log.Close() }
