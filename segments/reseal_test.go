package segments

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/walship/walship/crypt"
)

// EncryptV1 turns a v1 segment into the v2 segment NewWriterV2 would write
// for the same entries: it opens with the identity, holds the same entries,
// checks out as stored, and keeps every field of the v1 header but the
// version, the stored length and SHA-256, and the recipients.
func TestEncryptV1(t *testing.T) {
	idA, rA := newIdentity(t)
	idB, rB := newIdentity(t)
	idC, _ := newIdentity(t)
	for _, codec := range []Codec{CodecZstd, CodecNone} {
		t.Run(codec.String(), func(t *testing.T) {
			es := makeEntries(500, 7, 3)
			plain, ph := encode(t, es, codec)
			var s memSink
			h, err := EncryptV1(&s, bytes.NewReader(plain), []*crypt.Recipient{rB, rA, rA})
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(s.b)) != h.ObjectSize() || h.Version != Version2 || len(h.Recipients) != 2 {
				t.Fatalf("header %+v, object %d bytes", h, len(s.b))
			}
			if !slices.Equal(h.Recipients, crypt.Fingerprints([]*crypt.Recipient{rA, rB})) {
				t.Fatalf("recipients %v", h.Recipients)
			}
			same := ph
			same.Version, same.PayloadLen, same.PayloadSHA, same.Recipients = h.Version, h.PayloadLen, h.PayloadSHA, h.Recipients
			if !headersEqual(same, h) {
				t.Fatalf("fields changed: v1 %+v, v2 %+v", ph, h)
			}
			for _, e := range es {
				if len(e.Data) >= 32 && bytes.Contains(s.b, e.Data[:32]) {
					t.Fatalf("entry %d's data in the clear", e.Index)
				}
			}
			if _, err := CheckStored(bytes.NewReader(s.b)); err != nil {
				t.Fatalf("check stored: %v", err)
			}
			for _, id := range []*crypt.Identity{idA, idB} {
				got, _, err := decodeWith(s.b, id)
				if err != nil || len(got) != len(es) {
					t.Fatalf("decode with %v: %d entries, %v", id, len(got), err)
				}
				for i := range es {
					if got[i].Index != es[i].Index || got[i].Time != es[i].Time || !bytes.Equal(got[i].Data, es[i].Data) {
						t.Fatalf("entry %d differs", i)
					}
				}
			}
			if _, _, err := decodeWith(s.b, idC); !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("a third identity: %v", err)
			}
		})
	}
}

// A damaged v1 source is refused, not sealed into a valid-looking v2.
func TestEncryptV1Refuses(t *testing.T) {
	_, r := newIdentity(t)
	plain, _ := encode(t, makeEntries(200, 1, 4), CodecZstd)
	flipped := bytes.Clone(plain)
	flipped[len(flipped)-3] ^= 1
	cases := map[string][]byte{
		"flipped payload": flipped,
		"truncated":       plain[:len(plain)-5],
		"trailing bytes":  append(bytes.Clone(plain), 0),
	}
	for name, b := range cases {
		var s memSink
		if _, err := EncryptV1(&s, bytes.NewReader(b), []*crypt.Recipient{r}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	v2, _ := encodeV2(t, makeEntries(10, 1, 5), CodecZstd)
	var s memSink
	if _, err := EncryptV1(&s, bytes.NewReader(v2), []*crypt.Recipient{r}); err == nil {
		t.Error("a v2 source was taken")
	}
	if _, err := EncryptV1(&s, bytes.NewReader(plain), nil); err == nil {
		t.Error("no recipients was taken")
	}
}

func headersEqual(a, b Header) bool {
	return a.Version == b.Version && a.Codec == b.Codec && a.SourceFormat == b.SourceFormat && a.Timeline == b.Timeline &&
		a.First == b.First && a.Last == b.Last && a.Count == b.Count && a.MinTime == b.MinTime && a.MaxTime == b.MaxTime &&
		a.RawLen == b.RawLen && a.PayloadLen == b.PayloadLen && a.PayloadSHA == b.PayloadSHA && slices.Equal(a.Recipients, b.Recipients)
}
