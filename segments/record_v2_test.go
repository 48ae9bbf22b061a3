package segments

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/crypt"
)

func TestTimelineV2(t *testing.T) {
	idA, rA := newIdentity(t)
	idB, rB := newIdentity(t)
	idC, _ := newIdentity(t)
	tl := Timeline{ID: 3, Parent: 2, ForkIndex: 40, StartIndex: 45, Reason: "secret-reason-marker", Time: time.Unix(1700000000, 0).UTC()}
	b, err := EncodeTimelineFor(tl, []*crypt.Recipient{rA, rB})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("secret-reason-marker")) {
		t.Fatal("the reason is readable in the encrypted record")
	}
	for _, id := range []*crypt.Identity{idA, idB} {
		got, info, err := DecodeTimelineWith(b, []*crypt.Identity{id})
		if err != nil || got != tl || !info.Opened || info.Version != 2 || len(info.Recipients) != 2 {
			t.Fatalf("open with identity: %+v %+v %v", got, info, err)
		}
	}
	got, err := DecodeTimeline(b)
	want := Timeline{ID: 3, Parent: 2, ForkIndex: 40, StartIndex: 45}
	if err != nil || got != want {
		t.Fatalf("clear part: %+v %v, want %+v", got, err, want)
	}
	if _, _, err := DecodeTimelineWith(b, []*crypt.Identity{idC}); !errors.Is(err, crypt.ErrNoIdentity) {
		t.Fatalf("third identity: %v, want ErrNoIdentity", err)
	}
	// A flipped byte anywhere fails the envelope's SHA-256 or the ciphertext.
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if got, _, err := DecodeTimelineWith(c, []*crypt.Identity{idA}); err == nil && got != tl {
			t.Fatalf("flip at %d decoded to %+v", i, got)
		}
	}
}

// A record whose clear part was changed (and its SHA-256 recomputed) is
// refused by a reader that opens it.
func TestTimelineV2ClearMismatch(t *testing.T) {
	id, r := newIdentity(t)
	tl := Timeline{ID: 3, Parent: 2, ForkIndex: 40, StartIndex: 41}
	b, err := EncodeTimelineFor(tl, []*crypt.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := openRecord(timelineFormat, b)
	if err != nil {
		t.Fatal(err)
	}
	var sb sealedBody
	if err := json.Unmarshal(body, &sb); err != nil {
		t.Fatal(err)
	}
	sb.Clear = []byte(strings.Replace(string(sb.Clear), `"fork_index":40`, `"fork_index":39`, 1))
	forged, err := sealRecord(timelineFormat, 2, sb)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeTimelineWith(forged, []*crypt.Identity{id}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("forged clear part: %v, want ErrCorrupt", err)
	}
}

func TestPointV2(t *testing.T) {
	id, r := newIdentity(t)
	other, _ := newIdentity(t)
	p := Point{Name: "before-migration", Timeline: 2, Index: 99, Time: time.Unix(1700000001, 0).UTC(), Created: time.Unix(1700000002, 0).UTC(), Pinned: true}
	b, err := EncodePointFor(p, []*crypt.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	got, info, err := DecodePointWith(b, []*crypt.Identity{id})
	if err != nil || got != p || !info.Opened || !info.Encrypted() {
		t.Fatalf("open: %+v %+v %v", got, info, err)
	}
	got, err = DecodePoint(b)
	if want := (Point{Name: p.Name, Timeline: 2, Index: 99, Pinned: true}); err != nil || got != want {
		t.Fatalf("clear part: %+v %v, want %+v", got, err, want)
	}
	if _, _, err := DecodePointWith(b, []*crypt.Identity{other}); !errors.Is(err, crypt.ErrNoIdentity) {
		t.Fatalf("other identity: %v", err)
	}
	if _, err := DecodePoint(b[:len(b)/2]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cut record: %v", err)
	}
}

// FuzzRecordV2Open: encrypted record bodies from outside, opened with the
// identity they claim to be sealed to (the fuzzer cannot forge a SHA-256,
// so the envelope is sealed here around the body). Nothing panics; what
// opens has a clear part equal to its sealed record.
func FuzzRecordV2Open(f *testing.F) {
	id, r := fixedIdentity(f)
	tl, err1 := EncodeTimelineFor(Timeline{ID: 2, Parent: 1, ForkIndex: 10, StartIndex: 11, Reason: "r", Time: time.Unix(1700000000, 0).UTC()}, []*crypt.Recipient{r})
	pt, err2 := EncodePointFor(Point{Name: "p", Timeline: 2, Index: 12, Pinned: true}, []*crypt.Recipient{r})
	if err := errors.Join(err1, err2); err != nil {
		f.Fatal(err)
	}
	for _, b := range [][]byte{tl, pt} {
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil {
			f.Fatal(err)
		}
		f.Add(env.Format, []byte(env.Body))
	}
	f.Fuzz(func(t *testing.T, format string, body []byte) {
		b := sealRaw(format, RecordVersion2, body)
		ids := []*crypt.Identity{id}
		if got, info, err := DecodeTimelineWith(b, ids); err == nil {
			if clear, err := DecodeTimeline(b); err != nil || !info.Opened || clear != (Timeline{ID: got.ID, Parent: got.Parent, ForkIndex: got.ForkIndex, StartIndex: got.StartIndex}) {
				t.Fatalf("timeline opened as %+v, clear part %+v (%v)", got, clear, err)
			}
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, crypt.ErrNoIdentity) {
			t.Fatalf("timeline: %v", err)
		}
		if got, info, err := DecodePointWith(b, ids); err == nil {
			if clear, err := DecodePoint(b); err != nil || !info.Opened || clear != (Point{Name: got.Name, Timeline: got.Timeline, Index: got.Index, Pinned: got.Pinned}) {
				t.Fatalf("point opened as %+v, clear part %+v (%v)", got, clear, err)
			}
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, crypt.ErrNoIdentity) {
			t.Fatalf("point: %v", err)
		}
	})
}

// sameClear keeps numbers exact: two indexes past 2^53 that differ only
// in their last digit are different.
func TestSameClearExactNumbers(t *testing.T) {
	a := timelineClear{ID: 2, Parent: 1, ForkIndex: 1<<60 + 1, StartIndex: 1<<60 + 2}
	b := a
	b.ForkIndex++
	stored, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if !sameClear(stored, a) || sameClear(stored, b) {
		t.Fatalf("sameClear(%s): equal %v, off by one %v", stored, sameClear(stored, a), sameClear(stored, b))
	}
}
