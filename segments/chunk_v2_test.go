package segments

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/walship/walship/crypt"
)

func testNamer(tb testing.TB) *crypt.ChunkNamer {
	tb.Helper()
	s, err := crypt.NewChunkSecret()
	if err != nil {
		tb.Fatal(err)
	}
	return crypt.NewChunkNamer(s)
}

func TestChunkV2Encrypted(t *testing.T) {
	idA, rA := newIdentity(t)
	idB, rB := newIdentity(t)
	idC, _ := newIdentity(t)
	namer := testNamer(t)
	raw := bytes.Repeat([]byte("chunk-plaintext-marker "), 4000)
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		obj, err := EncodeChunkFor(nil, raw, codec, []*crypt.Recipient{rA, rB})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(obj, []byte("chunk-plaintext-marker")) {
			t.Fatalf("%s: plaintext readable in the encrypted chunk", codec)
		}
		if v := binary.BigEndian.Uint16(obj[8:]); v != ChunkVersion2 || obj[11] != flagEncrypted {
			t.Fatalf("%s: version %d flags %#x", codec, v, obj[11])
		}
		name := Digest(namer.Name(raw))
		for _, id := range []*crypt.Identity{idA, idB} {
			info, got, err := ReadChunkWith(bytes.NewReader(obj), name, ChunkOptions{Identities: []*crypt.Identity{id}, Namers: []*crypt.ChunkNamer{namer}})
			if err != nil || !bytes.Equal(got, raw) || !info.Opened || !info.Named || len(info.Recipients) != 2 {
				t.Fatalf("%s: open: %+v %v", codec, info, err)
			}
		}
		// Without the namer: opened, the name left to the manifest.
		info, got, err := ReadChunkWith(bytes.NewReader(obj), name, ChunkOptions{Identities: []*crypt.Identity{idA}})
		if err != nil || !bytes.Equal(got, raw) || info.Named {
			t.Fatalf("%s: open without namer: %+v %v", codec, info, err)
		}
		// Under another name (another chunk's): refused by the namer.
		other := Digest(namer.Name([]byte("other")))
		if _, _, err := ReadChunkWith(bytes.NewReader(obj), other, ChunkOptions{Identities: []*crypt.Identity{idA}, Namers: []*crypt.ChunkNamer{namer}}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: wrong name: %v, want ErrCorrupt", codec, err)
		}
		// No identity or a third: ErrNoIdentity naming both fingerprints.
		for _, ids := range [][]*crypt.Identity{nil, {idC}} {
			_, _, err := ReadChunkWith(bytes.NewReader(obj), name, ChunkOptions{Identities: ids})
			var ne *crypt.NoIdentityError
			if !errors.As(err, &ne) || len(ne.Recorded) != 2 {
				t.Fatalf("%s: identities %d: %v, want NoIdentityError naming 2", codec, len(ids), err)
			}
		}
		if _, err := ReadChunk(bytes.NewReader(obj), name); !errors.Is(err, crypt.ErrNoIdentity) {
			t.Fatalf("ReadChunk of an encrypted chunk: %v", err)
		}
		// As stored: no key needed.
		if info, err := CheckChunk(bytes.NewReader(obj), name); err != nil || info.Opened || !info.Encrypted() {
			t.Fatalf("%s: CheckChunk: %+v %v", codec, info, err)
		}
		// A flipped byte is damage, with and without a key: every header
		// byte, and payload bytes at a stride (the stored SHA-256 covers
		// them all alike).
		for i := 0; i < len(obj); i = nextFlip(i, chunkHeaderSizeV2(2)) {
			c := bytes.Clone(obj)
			c[i] ^= 0x40
			if _, err := CheckChunk(bytes.NewReader(c), name); !errors.Is(err, ErrCorrupt) && !(i < 10 && errors.Is(err, ErrUnknownVersion)) {
				t.Fatalf("%s: flip at %d as stored: %v", codec, i, err)
			}
			_, _, err := ReadChunkWith(bytes.NewReader(c), name, ChunkOptions{Identities: []*crypt.Identity{idA}, Namers: []*crypt.ChunkNamer{namer}})
			if err == nil || (!errors.Is(err, ErrCorrupt) && !errors.Is(err, crypt.ErrNoIdentity) && !errors.Is(err, ErrUnknownVersion)) {
				t.Fatalf("%s: flip at %d opened: %v", codec, i, err)
			}
		}
		for _, n := range []int{0, 9, 30, len(obj) - 1} {
			if _, err := CheckChunk(bytes.NewReader(obj[:n]), name); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: cut at %d: %v", codec, n, err)
			}
		}
		if _, err := CheckChunk(bytes.NewReader(append(bytes.Clone(obj), 0)), name); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: a byte after the payload: %v", codec, err)
		}
	}
}

// nextFlip steps through every header byte, then the payload at a stride.
func nextFlip(i, header int) int {
	if i < header {
		return i + 1
	}
	return i + 997
}

// A plain version 2 chunk is content-addressed like version 1 and checked
// in full without a key.
func TestChunkV2Plain(t *testing.T) {
	raw := bytes.Repeat([]byte("plain v2 "), 100)
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		obj, err := encodeChunkV2(nil, raw, codec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ReadChunk(bytes.NewReader(obj), DigestOf(raw)); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("%s: %v", codec, err)
		}
		info, err := CheckChunk(bytes.NewReader(obj), DigestOf(raw))
		if err != nil || !info.Opened || !info.Named {
			t.Fatalf("%s: CheckChunk: %+v %v", codec, info, err)
		}
		if _, err := CheckChunk(bytes.NewReader(obj), DigestOf([]byte("else"))); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: wrong digest: %v", codec, err)
		}
	}
}

// Hostile headers with a correct CRC: lengths and counts are refused before
// anything is allocated for them.
func TestChunkV2HostileHeader(t *testing.T) {
	_, r := newIdentity(t)
	obj, err := EncodeChunkFor(nil, []byte("some bytes"), CodecNone, []*crypt.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	hsize := chunkHeaderSizeV2(1)
	for name, edit := range map[string]func(b []byte){
		"stored length huge": func(b []byte) { binary.BigEndian.PutUint64(b[20:], 1<<40) },
		"raw length 0":       func(b []byte) { binary.BigEndian.PutUint64(b[12:], 0) },
		"raw length huge":    func(b []byte) { binary.BigEndian.PutUint64(b[12:], MaxChunkSize+1) },
		"flags unknown":      func(b []byte) { b[11] = 3 },
		"flag off":           func(b []byte) { b[11] = 0 },
		"codec unknown":      func(b []byte) { b[10] = 9 },
	} {
		c := bytes.Clone(obj)
		edit(c)
		binary.BigEndian.PutUint32(c[hsize-4:], CRC32C(c[:hsize-4]))
		if _, err := CheckChunk(bytes.NewReader(c), Digest{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	c := bytes.Clone(obj[:chunkFixedV2])
	binary.BigEndian.PutUint16(c[60:], MaxRecipients+1)
	if _, err := CheckChunk(bytes.NewReader(c), Digest{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("too many recipients: %v", err)
	}
}

// FuzzChunkV2 fuzzes version 2 chunk objects read with the fixed test
// identity and a namer, and as stored. Each input is also tried with its
// header CRC made right, so the fuzzer reaches the lengths, the envelope
// and the codec. Errors are ErrCorrupt, ErrUnknownVersion or
// crypt.ErrNoIdentity; never a panic or a large allocation; what opens is
// the raw bytes its name says.
func FuzzChunkV2(f *testing.F) {
	id, r := fixedIdentity(f)
	_, other := newIdentity(f)
	namer := testNamer(f)
	raw := bytes.Repeat([]byte("walship chunk v2 "), 40)
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		for _, rs := range [][]*crypt.Recipient{{r}, {r, other}, nil} {
			obj, err := encodeChunkV2(nil, raw, codec, rs)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(obj, raw)
		}
	}
	f.Fuzz(func(t *testing.T, obj, raw []byte) {
		fuzzChunkV2(t, obj, raw, id, namer)
		if len(obj) >= chunkFixedV2 {
			n := int(binary.BigEndian.Uint16(obj[60:]))
			if hsize := chunkHeaderSizeV2(n); n <= MaxRecipients && len(obj) >= hsize {
				c := bytes.Clone(obj)
				binary.BigEndian.PutUint32(c[hsize-4:], CRC32C(c[:hsize-4]))
				fuzzChunkV2(t, c, raw, id, namer)
			}
		}
	})
}

func fuzzChunkV2(t *testing.T, obj, raw []byte, id *crypt.Identity, namer *crypt.ChunkNamer) {
	want := Digest(namer.Name(raw))
	var got []byte
	var info ChunkInfo
	var err error
	alloc := allocated(func() {
		info, got, err = ReadChunkWith(bytes.NewReader(obj), want, ChunkOptions{Identities: []*crypt.Identity{id}, Namers: []*crypt.ChunkNamer{namer}})
	})
	if limit := uint64(fuzzAllocSlack + 8*len(obj) + 8*len(raw)); alloc > limit {
		t.Fatalf("reading a %d-byte chunk allocated %d, limit %d", len(obj), alloc, limit)
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) && !errors.Is(err, crypt.ErrNoIdentity) {
			t.Fatalf("error %v is none of ErrCorrupt, ErrUnknownVersion, ErrNoIdentity", err)
		}
	} else if info.Encrypted() && !bytes.Equal(got, raw) {
		t.Fatalf("an encrypted chunk opened to %d bytes that are not the %d its name says", len(got), len(raw))
	}
	_, serr := CheckChunk(bytes.NewReader(obj), want)
	if err == nil && serr != nil {
		t.Fatalf("opens, but CheckChunk says %v", serr)
	}
	if serr != nil && !errors.Is(serr, ErrCorrupt) && !errors.Is(serr, ErrUnknownVersion) {
		t.Fatalf("CheckChunk error %v is neither ErrCorrupt nor ErrUnknownVersion", serr)
	}
}

// TestReadChunkHeader: the header alone says how each version is stored;
// a flipped header byte is damage.
func TestReadChunkHeader(t *testing.T) {
	raw := bytes.Repeat([]byte("header "), 500)
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := id.Recipient()
	for _, rs := range [][]*crypt.Recipient{nil, {r}} {
		obj, err := EncodeChunkFor(nil, raw, CodecZstd, rs)
		if err != nil {
			t.Fatal(err)
		}
		info, err := ReadChunkHeader(bytes.NewReader(obj[:min(len(obj), MaxChunkHeaderSize)]))
		wantV := ChunkVersion1
		if len(rs) > 0 {
			wantV = ChunkVersion2
		}
		if err != nil || info.Version != wantV || info.RawLen != uint64(len(raw)) || len(info.Recipients) != len(rs) || info.Opened {
			t.Fatalf("%d recipients: %+v, %v", len(rs), info, err)
		}
		obj[12] ^= 1
		if _, err := ReadChunkHeader(bytes.NewReader(obj)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped header byte: %v", err)
		}
	}
}
