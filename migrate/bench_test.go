package migrate

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// benchStore fills a memory store with n version 1 zstd segments of
// about 1 MiB raw each (4 KiB entries, half random, half repeated), and a
// timeline record.
func benchStore(b *testing.B, n int) (backends.Store, int64) {
	st := mem.New()
	r := rand.New(rand.NewPCG(1, 2))
	idx := uint64(1)
	var raw int64
	for range n {
		var s memSink
		w, err := segments.NewWriter(&s, 1, 1, segments.CodecZstd)
		if err != nil {
			b.Fatal(err)
		}
		for range 256 {
			d := make([]byte, 4096)
			for i := range 2048 {
				d[i] = byte(r.Uint32())
			}
			if err := w.Append(segments.Entry{Index: idx, Time: time.Unix(0, int64(idx)).UnixNano(), Data: d}); err != nil {
				b.Fatal(err)
			}
			idx++
			raw += int64(len(d))
		}
		h, err := w.Finish()
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Put(context.Background(), segments.NameOf(h).Key(), bytes.NewReader(s.b), int64(len(s.b))); err != nil {
			b.Fatal(err)
		}
	}
	rec, _ := segments.EncodeTimeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "bench"})
	if err := st.Put(context.Background(), segments.TimelineKey(1), bytes.NewReader(rec), int64(len(rec))); err != nil {
		b.Fatal(err)
	}
	return st, raw
}

// BenchmarkRun: raw MB/s of a migration from version 1 to version 2 sealed
// to one recipient, with and without the identity that lets every entry be
// compared (a memory store, 32 segments of 1 MiB). On the shared 2-core
// machine: check=header 123 MB/s (sealed as stored by EncryptV1; 75 MB/s
// when decoded and re-encoded), check=entries 42-55 MB/s (decoded,
// re-encoded, read back and decoded again).
func BenchmarkRun(b *testing.B) {
	id, err := crypt.GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	r, _ := id.Recipient()
	for _, c := range []struct {
		name string
		ids  []*crypt.Identity
	}{{"check=header", nil}, {"check=entries", []*crypt.Identity{id}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				st, raw := benchStore(b, 32)
				b.SetBytes(raw)
				b.StartTimer()
				res, err := Run(context.Background(), st, Options{Recipients: []*crypt.Recipient{r}, Identities: c.ids, Scratch: b.TempDir()})
				if err != nil || res.Segments.Rewrite != 32 {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	}
}
