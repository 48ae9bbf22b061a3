package compact

import (
	"cmp"
	"slices"
	"time"

	"github.com/walship/walship/segments"
)

// object is one segment as a listing shows it.
type object struct {
	Key     string
	Size    int64
	ModTime time.Time // the store's clock; zero if unknown
	Name    segments.SegmentName
}

func (o object) span() uint64 { return o.Name.Last - o.Name.First }

// contained is a segment held whole by another: in is the smallest segment
// that holds it (itself perhaps contained in a larger one).
type contained struct {
	obj, in object
}

// byRange orders one timeline's objects by first index, then the widest
// first, then the highest generation, then by key: every container comes
// before what it contains, and of copies of one range (generations, see
// segments.SegmentName) the newest holds the others.
func byRange(a, b object) int {
	return cmp.Or(cmp.Compare(a.Name.First, b.Name.First), cmp.Compare(b.Name.Last, a.Name.Last),
		cmp.Compare(b.Name.Gen, a.Name.Gen), cmp.Compare(a.Key, b.Key))
}

// split sorts one timeline's objects and separates the top ones (held by no
// other; their first and last indexes both grow strictly) from the
// contained ones, each with its smallest container.
func split(objs []object) (top []object, inner []contained) {
	slices.SortFunc(objs, byRange)
	var active []object // objects that reach the current first index
	for _, o := range objs {
		keep := active[:0]
		for _, a := range active {
			if a.Name.Last >= o.Name.First {
				keep = append(keep, a)
			}
		}
		active = keep
		best := -1
		for i, a := range active {
			if a.Name.Last >= o.Name.Last && (best < 0 || a.span() < active[best].span()) {
				best = i
			}
		}
		if best >= 0 {
			inner = append(inner, contained{obj: o, in: active[best]})
		} else {
			top = append(top, o)
		}
		active = append(active, o)
	}
	return top, inner
}

// window is the level-w window of an object's newest entry time.
func window(o object, w time.Duration) int64 { return max(o.Name.MaxTime, 0) / int64(w) }

// closed says whether window k of level w ended at least delay before now.
func closed(k int64, w, delay time.Duration, now time.Time) bool {
	return time.Unix(0, (k+1)*int64(w)).Add(delay).Compare(now) <= 0
}

// runs returns the merges level w asks for among top objects: runs of two
// or more that hold consecutive entries, share a closed window, and whose
// stored bytes stay within maxBytes (an object alone may exceed it).
func runs(top []object, w, delay time.Duration, maxBytes int64, now time.Time) [][]object {
	var out [][]object
	var cur []object
	var size int64
	flush := func() {
		if len(cur) >= 2 {
			out = append(out, cur)
		}
		cur, size = nil, 0
	}
	for _, o := range top {
		k := window(o, w)
		if !closed(k, w, delay, now) {
			flush()
			continue
		}
		if len(cur) > 0 {
			prev := cur[len(cur)-1]
			if o.Name.First != prev.Name.Last+1 || window(prev, w) != k || size+o.Size > maxBytes {
				flush()
			}
		}
		cur = append(cur, o)
		size += o.Size
	}
	flush()
	return out
}

// settled returns the first index a later pass must list from: before it,
// every top object's window of the last level has closed (no merge can
// take it any more) and no contained object waits for deletion. next is
// the index after the last object (or the previous pass's value).
func settled(top []object, inner []contained, last time.Duration, delay time.Duration, now time.Time, next uint64) uint64 {
	s := next
	for _, o := range top {
		if !closed(window(o, last), last, delay, now) {
			s = min(s, o.Name.First)
			break
		}
	}
	for _, c := range inner {
		s = min(s, outermost(c.in, top).Name.First)
	}
	return s
}

// outermost is the top object that holds o (o itself if it is one).
func outermost(o object, top []object) object {
	i, _ := slices.BinarySearchFunc(top, o.Name.First+1, func(t object, first uint64) int { return cmp.Compare(t.Name.First, first) })
	if i > 0 && top[i-1].Name.Last >= o.Name.Last {
		return top[i-1]
	}
	return o
}
