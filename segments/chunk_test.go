package segments_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/walship/walship/segments"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestChunkRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		raw   []byte
		codec segments.Codec
		want  segments.Codec // codec the object ends up with
	}{
		{"zstd compressible", bytes.Repeat([]byte("walship chunk "), 10000), segments.CodecZstd, segments.CodecZstd},
		{"zstd incompressible falls back to none", randomBytes(1, 100000), segments.CodecZstd, segments.CodecNone},
		{"none", bytes.Repeat([]byte("x"), 5000), segments.CodecNone, segments.CodecNone},
		{"one byte", []byte{7}, segments.CodecZstd, segments.CodecNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj, err := segments.EncodeChunk([]byte("prefix"), c.raw, c.codec)
			if err != nil {
				t.Fatal(err)
			}
			if string(obj[:6]) != "prefix" {
				t.Fatal("EncodeChunk did not append to dst")
			}
			obj = obj[6:]
			if segments.Codec(obj[10]) != c.want {
				t.Fatalf("codec %v, want %v", segments.Codec(obj[10]), c.want)
			}
			if len(obj) > segments.ChunkHeaderSizeV1+len(c.raw) {
				t.Fatalf("object of %d bytes for %d raw bytes", len(obj), len(c.raw))
			}
			got, err := segments.DecodeChunk(obj, segments.DigestOf(c.raw))
			if err != nil || !bytes.Equal(got, c.raw) {
				t.Fatalf("decode: %v (equal %v)", err, bytes.Equal(got, c.raw))
			}
		})
	}
}

func TestChunkRefusesDamage(t *testing.T) {
	raw := bytes.Repeat([]byte("some chunk content "), 5000)
	d := segments.DigestOf(raw)
	obj, err := segments.EncodeChunk(nil, raw, segments.CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(obj)) }
	rehdr := func(b []byte) []byte { // rewrite the header CRC after an edit
		binary.BigEndian.PutUint32(b[28:], segments.CRC32C(b[:28]))
		return b
	}
	cases := []struct {
		name string
		obj  []byte
		want error
		msg  string
	}{
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), segments.ErrCorrupt, "bad magic"},
		{"unknown version", mut(func(b []byte) []byte { b[9] = 9; return b }), segments.ErrUnknownVersion, "version 9"},
		{"header bit flip", mut(func(b []byte) []byte { b[15] ^= 1; return b }), segments.ErrCorrupt, "CRC32C"},
		{"payload bit flip", mut(func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), segments.ErrCorrupt, ""},
		{"truncated", obj[:len(obj)-1], segments.ErrCorrupt, "shorter"},
		{"trailing byte", append(bytes.Clone(obj), 0), segments.ErrCorrupt, "after the payload"},
		{"short header", obj[:20], segments.ErrCorrupt, "header"},
		{"raw length too large", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[12:], segments.MaxChunkSize+1)
			return rehdr(b)
		}), segments.ErrCorrupt, "raw length"},
		{"raw length lies", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[12:], uint64(len(raw))+1)
			return rehdr(b)
		}), segments.ErrCorrupt, "fewer"},
		{"flags", mut(func(b []byte) []byte { b[11] = 1; return rehdr(b) }), segments.ErrCorrupt, "flags"},
		{"unknown codec", mut(func(b []byte) []byte { b[10] = 7; return rehdr(b) }), segments.ErrCorrupt, "codec"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := segments.DecodeChunk(c.obj, d)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %v, want %v containing %q", err, c.want, c.msg)
			}
			if !strings.Contains(err.Error(), d.String()) {
				t.Fatalf("error %q does not name the chunk", err)
			}
		})
	}
	// The right bytes under the wrong name.
	other := segments.DigestOf([]byte("other"))
	if _, err := segments.DecodeChunk(obj, other); !errors.Is(err, segments.ErrCorrupt) || !strings.Contains(err.Error(), "hashes to "+d.String()) {
		t.Fatalf("wrong digest: %v", err)
	}
}

func TestChunkKeys(t *testing.T) {
	d := segments.DigestOf([]byte("hello"))
	key := segments.ChunkKey(d)
	if key != "chunks/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("key %s", key)
	}
	got, err := segments.ParseChunkKey(key)
	if err != nil || got != d {
		t.Fatalf("parse: %v %v", got, err)
	}
	hexd := d.String()
	for _, bad := range []string{
		"chunks/2c/" + strings.ToUpper(hexd),
		"chunks/ab/" + hexd,
		"chunks/" + hexd,
		"chunks/2c/" + hexd + ".tmp",
		"chunks/2c/" + hexd[:63],
		"chunks/2c/x/" + hexd,
		"chunk/2c/" + hexd,
		"chunks/2c/" + hexd[:62] + "zz",
	} {
		if _, err := segments.ParseChunkKey(bad); err == nil {
			t.Errorf("ParseChunkKey(%q) accepted", bad)
		}
	}
	if _, err := segments.EncodeChunk(nil, nil, segments.CodecZstd); err == nil {
		t.Fatal("empty chunk encoded")
	}
}
