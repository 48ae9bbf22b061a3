package compact

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/walship/walship/segments"
)

// split's contract on random overlapping ranges: every object is top or
// held whole by its container; tops hold no one another and grow strictly;
// each contained object's container is the smallest that holds it.
func TestSplitContract(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 500 {
		var objs []object
		for i := range 1 + r.IntN(30) {
			first := 1 + r.Uint64N(60)
			last := first + r.Uint64N(12)
			n := segments.SegmentName{Timeline: 1, First: first, Last: last, MaxTime: int64(i)}
			objs = append(objs, object{Key: n.Key(), Name: n})
		}
		all := append([]object(nil), objs...)
		top, inner := split(objs)
		if len(top)+len(inner) != len(all) {
			t.Fatalf("round %d: %d top + %d inner of %d", round, len(top), len(inner), len(all))
		}
		for i := 1; i < len(top); i++ {
			if top[i].Name.First <= top[i-1].Name.First || top[i].Name.Last <= top[i-1].Name.Last {
				t.Fatalf("round %d: tops %v then %v", round, top[i-1].Name, top[i].Name)
			}
		}
		for _, c := range inner {
			if c.in.Name.First > c.obj.Name.First || c.in.Name.Last < c.obj.Name.Last || c.in.Key == c.obj.Key {
				t.Fatalf("round %d: %v is not held by %v", round, c.obj.Name, c.in.Name)
			}
			for _, o := range all {
				holds := o.Key != c.obj.Key && o.Name.First <= c.obj.Name.First && o.Name.Last >= c.obj.Name.Last &&
					(o.span() > c.obj.span() || o.Key < c.obj.Key)
				if holds && o.span() < c.in.span() {
					t.Fatalf("round %d: %v is held by %v, smaller than %v", round, c.obj.Name, o.Name, c.in.Name)
				}
			}
		}
	}
}

func TestRuns(t *testing.T) {
	now := time.Unix(0, 0).Add(10 * time.Hour)
	seg := func(first, last uint64, at time.Duration, size int64) object {
		n := segments.SegmentName{Timeline: 1, First: first, Last: last, MaxTime: int64(at)}
		return object{Key: n.Key(), Name: n, Size: size}
	}
	top := []object{
		seg(1, 5, 10*time.Second, 10), seg(6, 9, 20*time.Second, 10), seg(10, 12, 59*time.Second, 10), // minute 0
		seg(13, 20, 61*time.Second, 10),                                            // minute 1, alone
		seg(22, 25, 2*time.Minute, 10), seg(26, 30, 2*time.Minute+time.Second, 10), // minute 2 after a hole
		seg(31, 40, 10*time.Hour-30*time.Second, 10), seg(41, 50, 10*time.Hour-20*time.Second, 10), // not closed yet
	}
	got := runs(top, time.Minute, time.Minute, 25, now)
	want := "[[1-5 6-9] [22-25 26-30]]" // 10 is cut by max bytes and left alone
	if s := fmt.Sprint(names(got)); s != want {
		t.Fatalf("runs %s, want %s", s, want)
	}
}

func names(rs [][]object) [][]string {
	var out [][]string
	for _, r := range rs {
		var n []string
		for _, o := range r {
			n = append(n, fmt.Sprintf("%d-%d", o.Name.First, o.Name.Last))
		}
		out = append(out, n)
	}
	return out
}
