package segments

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/walship/walship/crypt"
)

// goldenIdentityFile holds the fixed test identity the golden encrypted
// stores are sealed to (never used outside tests). Fixed, so a fuzz input
// that fails replays.
const goldenIdentityFile = "../testdata/golden-v2-encrypted.identity"

// fixedIdentity returns the golden test identity and its recipient.
func fixedIdentity(tb testing.TB) (*crypt.Identity, *crypt.Recipient) {
	tb.Helper()
	b, err := os.ReadFile(goldenIdentityFile)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("WALSHIP_SEGMENTS_TEST_IDENTITY", string(b))
	ids, err := crypt.IdentitiesFromEnv("WALSHIP_SEGMENTS_TEST_IDENTITY")
	if err != nil {
		tb.Fatal(err)
	}
	r, ok := ids[0].Recipient()
	if !ok {
		tb.Fatal("the golden identity has no recipient")
	}
	return ids[0], r
}

// newIdentity returns a fresh identity and its recipient.
func newIdentity(tb testing.TB) (*crypt.Identity, *crypt.Recipient) {
	tb.Helper()
	id, err := crypt.GenerateIdentity()
	if err != nil {
		tb.Fatal(err)
	}
	r, _ := id.Recipient()
	return id, r
}

// encodeV2 writes es as a version 2 segment sealed to rs (plain when none).
func encodeV2(tb testing.TB, es []Entry, codec Codec, rs ...*crypt.Recipient) ([]byte, Header) {
	tb.Helper()
	var s memSink
	w, err := NewWriterV2(&s, 3, 1, codec, rs)
	if err != nil {
		tb.Fatal(err)
	}
	return writeAll(tb, w, es, &s)
}

// writeAll appends es to w, finishes it, and checks the object's size.
func writeAll(tb testing.TB, w SegmentWriter, es []Entry, s *memSink) ([]byte, Header) {
	tb.Helper()
	for _, e := range es {
		if err := w.Append(e); err != nil {
			tb.Fatal(err)
		}
	}
	h, err := w.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	if int64(len(s.b)) != h.ObjectSize() {
		tb.Fatalf("object is %d bytes, header says %d", len(s.b), h.ObjectSize())
	}
	return s.b, h
}

// decodeWith is decodeAll with identities.
func decodeWith(b []byte, ids ...*crypt.Identity) ([]Entry, Header, error) {
	return decodeOpts(b, ReadOptions{Identities: ids})
}

func decodeOpts(b []byte, o ReadOptions) ([]Entry, Header, error) {
	r, err := NewReaderWith(bytes.NewReader(b), o)
	if err != nil {
		return nil, Header{}, err
	}
	defer r.Close()
	var es []Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return es, r.Header(), nil
		}
		if err != nil {
			return es, r.Header(), err
		}
		es = append(es, e)
	}
}
