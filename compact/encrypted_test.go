package compact_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/compact"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	rt "github.com/walship/walship/retention/retentiontest"
	"github.com/walship/walship/segments"
)

// putV2 stores entries first..last of timeline 1, one a second from t0, as
// a version 2 segment sealed to rs (plain when none).
func putV2(t *testing.T, st backends.Store, t0 time.Time, first, last uint64, rs ...*crypt.Recipient) string {
	t.Helper()
	var buf sinkBuf
	w, err := segments.NewWriterV2(&buf, 1, 1, segments.CodecZstd, rs)
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i <= last; i++ {
		if err := w.Append(segments.Entry{Index: i, Time: t0.Add(time.Duration(i) * time.Second).UnixNano(), Data: fmt.Appendf(nil, "entry %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	key := segments.NameOf(h).Key()
	if err := st.Put(context.Background(), key, bytes.NewReader(buf.b), int64(len(buf.b))); err != nil {
		t.Fatal(err)
	}
	return key
}

// timelineOne returns a memory store holding timeline 1's record, and an
// hour three hours ago to write its segments from.
func timelineOne(t *testing.T) (backends.Store, time.Time) {
	t.Helper()
	st := mem.New()
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	rec, err := segments.EncodeTimeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "test", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), segments.TimelineKey(1), bytes.NewReader(rec), int64(len(rec))); err != nil {
		t.Fatal(err)
	}
	return st, t0
}

type sinkBuf struct{ b []byte }

func (s *sinkBuf) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *sinkBuf) WriteAt(p []byte, off int64) (int, error) {
	copy(s.b[off:], p)
	return len(p), nil
}

// TestCompactionSkipsEncrypted: compaction holds no identity, so a run
// holding an encrypted segment is skipped for good (no error, nothing
// deleted, not retried), while plain version 2 segments merge like
// version 1 ones.
func TestCompactionSkipsEncrypted(t *testing.T) {
	ctx := context.Background()
	st, t0 := timelineOne(t)
	id, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := id.Recipient()
	// Minute 0: plain, plain, encrypted. Minute 1: plain v2 twice.
	sealed := putV2(t, st, t0, 21, 30, r)
	putV2(t, st, t0, 1, 10)
	putV2(t, st, t0, 11, 20)
	putV2(t, st, t0, 61, 70)
	putV2(t, st, t0, 71, 80)
	res, err := compact.Pass(ctx, st, compact.Options{Codec: segments.CodecZstd, TempDir: t.TempDir(), Grace: -1}, nil)
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	if res.Outputs != 1 || res.Merged != 2 || slices.Contains(res.Pending, 1) {
		t.Fatalf("result %+v: want minute 1's two segments merged, the rest skipped for good", res)
	}
	keys := rt.Keys(t, st)
	if _, ok := keys[sealed]; !ok {
		t.Fatalf("the encrypted segment %s is gone", sealed)
	}
	if n := len(keys); n != 1+3+1 {
		t.Fatalf("%d objects after the pass, want the record, minute 0's three segments and minute 1's output: %v", n, keys)
	}
	rep, err := pitr.VerifyWith(ctx, st, pitr.VerifyOptions{Identities: []*crypt.Identity{id}})
	if err != nil || rep.Conflicts != nil || len(rep.Damaged) != 0 || rep.Entries != 50 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
