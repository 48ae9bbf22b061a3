package compact

import (
	"testing"

	"github.com/walship/walship/segments"
)

// TestSplitGenerations: of copies of one segment (generations, see
// segments.SegmentName) the highest is top and holds the others, whatever
// their keys' byte order (".g10" < ".g2" < ".wseg").
func TestSplitGenerations(t *testing.T) {
	var objs []object
	for _, gen := range []uint32{0, 2, 10, 1} {
		n := segments.SegmentName{Timeline: 1, First: 5, Last: 9, MaxTime: 7, Gen: gen}
		objs = append(objs, object{Key: n.Key(), Name: n})
	}
	next := segments.SegmentName{Timeline: 1, First: 10, Last: 12, MaxTime: 8}
	objs = append(objs, object{Key: next.Key(), Name: next})
	top, inner := split(objs)
	if len(top) != 2 || top[0].Name.Gen != 10 || top[1].Name != next || len(inner) != 3 {
		t.Fatalf("top %+v, inner %+v", top, inner)
	}
	for _, c := range inner {
		if c.in.Name.Family() != c.obj.Name.Family() || c.in.Name.Gen <= c.obj.Name.Gen {
			t.Fatalf("%s held by %s", c.obj.Key, c.in.Key)
		}
	}
}
