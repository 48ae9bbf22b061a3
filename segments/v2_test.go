package segments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/walship/walship/crypt"
)

func TestV2RoundTrip(t *testing.T) {
	idA, rA := newIdentity(t)
	idB, rB := newIdentity(t)
	idC, _ := newIdentity(t)
	es := makeEntries(500, 42, 1)
	for _, codec := range []Codec{CodecZstd, CodecNone} {
		t.Run("plain/"+codec.String(), func(t *testing.T) {
			b, h := encodeV2(t, es, codec)
			if h.Version != Version2 || h.Encrypted() || h.HeaderSize() != headerFixedV2+4 {
				t.Fatalf("header %+v", h)
			}
			// Read without identities, and with one: a plain segment needs none.
			for _, ids := range [][]*crypt.Identity{nil, {idA}} {
				got, gh, err := decodeWith(b, ids...)
				if err != nil || !sameEntries(got, es) || !reflect.DeepEqual(gh, h) {
					t.Fatalf("decode with %d identities: %v (header %+v)", len(ids), err, gh)
				}
			}
			// The frames are version 1's: same entries, same payload.
			v1, h1 := encode(t, es, codec)
			if !bytes.Equal(b[h.HeaderSize():], v1[HeaderSizeV1:]) || h.PayloadSHA != h1.PayloadSHA {
				t.Fatal("a plain version 2 payload differs from version 1's")
			}
		})
		t.Run("encrypted/"+codec.String(), func(t *testing.T) {
			b, h := encodeV2(t, es, codec, rA, rB)
			want := crypt.Fingerprints([]*crypt.Recipient{rA, rB})
			if !h.Encrypted() || !reflect.DeepEqual(h.Recipients, want) || h.HeaderSize() != int64(headerSizeV2(2)) {
				t.Fatalf("header %+v", h)
			}
			for _, id := range []*crypt.Identity{idA, idB} {
				got, gh, err := decodeWith(b, idC, id)
				if err != nil || !sameEntries(got, es) || !reflect.DeepEqual(gh, h) {
					t.Fatalf("decode with %s: %v", id.Fingerprint(), err)
				}
			}
			for name, ids := range map[string][]*crypt.Identity{"none": nil, "a third": {idC}} {
				_, _, err := decodeWith(b, ids...)
				if !errors.Is(err, crypt.ErrNoIdentity) || errors.Is(err, ErrCorrupt) {
					t.Fatalf("identity %s: %v, want ErrNoIdentity", name, err)
				}
				for _, fp := range want {
					if !strings.Contains(err.Error(), fp.String()) {
						t.Fatalf("identity %s: %q does not name fp %s", name, err, fp)
					}
				}
			}
			// Integrity without a key; CheckStoredWith says whether the key fits.
			if gh, err := CheckStored(bytes.NewReader(b)); err != nil || !reflect.DeepEqual(gh, h) {
				t.Fatalf("CheckStored: %v", err)
			}
			if _, err := CheckStoredWith(bytes.NewReader(b), ReadOptions{Identities: []*crypt.Identity{idB}}); err != nil {
				t.Fatalf("CheckStoredWith B: %v", err)
			}
			if _, err := CheckStoredWith(bytes.NewReader(b), ReadOptions{Identities: []*crypt.Identity{idC}}); !errors.Is(err, crypt.ErrNoIdentity) {
				t.Fatalf("CheckStoredWith C: %v, want ErrNoIdentity", err)
			}
		})
	}
}

func TestV2ReadHeader(t *testing.T) {
	_, r := newIdentity(t)
	for name, obj := range map[string][]byte{
		"v1":           first(encode(t, makeEntries(3, 1, 1), CodecZstd)),
		"v2 plain":     first(encodeV2(t, makeEntries(3, 1, 1), CodecZstd)),
		"v2 encrypted": first(encodeV2(t, makeEntries(3, 1, 1), CodecNone, r)),
	} {
		h, raw, err := ReadHeader(bytes.NewReader(obj))
		if err != nil || int64(len(raw)) != h.HeaderSize() || !bytes.Equal(raw, obj[:len(raw)]) || h.ObjectSize() != int64(len(obj)) {
			t.Fatalf("%s: %v, %d header bytes, header %+v", name, err, len(raw), h)
		}
		if len(raw) > MaxHeaderSize {
			t.Fatalf("%s: header of %d bytes, MaxHeaderSize %d", name, len(raw), MaxHeaderSize)
		}
		// What a planner fetches: MaxHeaderSize bytes, or the whole object.
		if _, _, err := ReadHeader(bytes.NewReader(obj[:min(len(obj), MaxHeaderSize)])); err != nil {
			t.Fatalf("%s: header from the first bytes: %v", name, err)
		}
	}
}

func first(b []byte, _ Header) []byte { return b }

// TestV2NoPlaintext: nothing of an encrypted segment's entries shows in
// its bytes (codec none, so only the envelope hides them); the plain one
// shows them, so the check can fail.
func TestV2NoPlaintext(t *testing.T) {
	_, r := newIdentity(t)
	es := makeEntries(50, 1, 4)
	for i := range es {
		es[i].Data = fmt.Appendf(nil, "PLAINTEXT-MARKER-%d", i)
	}
	plain, _ := encodeV2(t, es, CodecNone)
	sealed, _ := encodeV2(t, es, CodecNone, r)
	if !bytes.Contains(plain, []byte("PLAINTEXT-MARKER")) {
		t.Fatal("the plain segment does not hold the marker")
	}
	if bytes.Contains(sealed, []byte("PLAINTEXT-MARKER")) || bytes.Contains(sealed, []byte("MARKER")) {
		t.Fatal("the encrypted segment holds plaintext")
	}
}

// TestV2EveryByteFlipDetected: a flipped byte anywhere fails the reader
// with ErrCorrupt (and crypt.ErrAuth inside the envelope), and CheckStored
// without a key; every truncation and a trailing byte fail too.
func TestV2EveryByteFlipDetected(t *testing.T) {
	id, r := newIdentity(t)
	for _, codec := range []Codec{CodecZstd, CodecNone} {
		b, h := encodeV2(t, makeEntries(20, 1, 2), codec, r)
		hs := int(h.HeaderSize())
		for i := range b {
			c := bytes.Clone(b)
			c[i] ^= 0x40
			_, _, err := decodeWith(c, id)
			if i == 8 || i == 9 { // the version
				if !errors.Is(err, ErrUnknownVersion) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s: flip in the version: %v", codec, err)
				}
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: flip at byte %d of %d: %v, want ErrCorrupt", codec, i, len(b), err)
			}
			if i >= hs && !errors.Is(err, crypt.ErrAuth) {
				t.Fatalf("%s: flip at payload byte %d: %v, want crypt.ErrAuth", codec, i, err)
			}
			if _, err := CheckStored(bytes.NewReader(c)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: flip at byte %d: CheckStored says %v", codec, i, err)
			}
		}
		for cut := range len(b) {
			if _, _, err := decodeWith(b[:cut], id); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: truncation to %d bytes: %v", codec, cut, err)
			}
			if _, err := CheckStored(bytes.NewReader(b[:cut])); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: truncation to %d bytes: CheckStored says %v", codec, cut, err)
			}
		}
		if _, _, err := decodeWith(append(bytes.Clone(b), 0), id); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: trailing byte: %v", codec, err)
		}
	}
}

func TestV2WriterRejects(t *testing.T) {
	var rs []*crypt.Recipient
	for range MaxRecipients + 1 {
		_, r := newIdentity(t)
		rs = append(rs, r)
	}
	if _, err := NewWriterV2(&memSink{}, 1, 1, CodecZstd, rs); err == nil {
		t.Fatalf("%d recipients accepted", len(rs))
	}
	b, h := encodeV2(t, makeEntries(3, 1, 1), CodecNone, rs[:MaxRecipients]...)
	if len(h.Recipients) != MaxRecipients || h.HeaderSize() != MaxHeaderSize {
		t.Fatalf("%d recipients, header %d bytes", len(h.Recipients), h.HeaderSize())
	}
	if _, err := CheckStored(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriterV2(&memSink{}, 1, 1, CodecZstd, rs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); err == nil {
		t.Fatal("an empty segment finished")
	}
}

// TestV2LargeOnFile streams a 64 MiB encrypted segment through a file:
// memory stays flat in the segment's size, writing and reading.
func TestV2LargeOnFile(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	id, r := newIdentity(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := bytes.Repeat([]byte("sixty-four bytes of a log entry, repeated to fill the segment.\n"), 1024) // 64 KiB
	const n = 1024
	var w *WriterV2
	write := allocated(func() {
		if w, err = NewWriterV2(f, 7, 1, CodecNone, []*crypt.Recipient{r}); err != nil {
			t.Fatal(err)
		}
		for i := range uint64(n) {
			if err := w.Append(Entry{Index: i + 1, Time: int64(i), Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err = w.Finish(); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	var count int
	read := allocated(func() {
		rd, err := NewReaderWith(f, ReadOptions{Identities: []*crypt.Identity{id}})
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		for {
			e, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break
			}
			if !bytes.Equal(e.Data, data) {
				t.Fatalf("entry %d differs", e.Index)
			}
			count++
		}
	})
	t.Logf("64 MiB encrypted: write allocated %d MiB, read %d MiB (entries' data included)", write>>20, read>>20)
	if count != n {
		t.Fatalf("%d entries, want %d", count, n)
	}
	// Reading allocates each entry's data (64 MiB in all); writing must not
	// grow with the segment.
	if write > 16<<20 {
		t.Fatalf("writing a 64 MiB segment allocated %d bytes", write)
	}
}
