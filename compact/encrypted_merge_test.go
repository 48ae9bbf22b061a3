package compact_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/compact"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// TestCompactionWithIdentity: given an identity and the store's
// recipients (walship compact --identity, an operator's run), runs of
// encrypted segments merge into segments sealed to those recipients, and
// the inputs are deleted only after the merged segment, opened with the
// identity, was found to hold them entry by entry. Every entry is still
// there, nothing is plain, and another identity opens nothing.
func TestCompactionWithIdentity(t *testing.T) {
	ctx := context.Background()
	st, t0 := timelineOne(t)
	id, _ := crypt.GenerateIdentity()
	other, _ := crypt.GenerateIdentity()
	r, _ := id.Recipient()
	// Minute 0: three encrypted segments. Minute 1: one plain v2, one encrypted.
	for _, rg := range [][2]uint64{{1, 10}, {11, 20}, {21, 30}} {
		putV2(t, st, t0, rg[0], rg[1], r)
	}
	putV2(t, st, t0, 61, 70)
	putV2(t, st, t0, 71, 80, r)

	o := compact.Options{Codec: segments.CodecZstd, TempDir: t.TempDir(), Grace: -1}
	// An identity alone never writes the entries of encrypted segments plain.
	o.Identities = []*crypt.Identity{id}
	res, err := compact.Pass(ctx, st, o, nil)
	if err != nil || res.Outputs != 0 {
		t.Fatalf("identity without recipients: %+v %v, want nothing merged", res, err)
	}
	// Recipients without an identity for them: refused up front.
	bad := compact.Options{Codec: segments.CodecZstd, Recipients: []*crypt.Recipient{r}, Identities: []*crypt.Identity{other}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "needs an identity") {
		t.Fatalf("recipients without a matching identity: %v", err)
	}

	o.Recipients = []*crypt.Recipient{r}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err = compact.Pass(ctx, st, o, nil)
	if err != nil || res.Outputs != 2 || res.Merged != 5 || res.Deleted != 5 {
		t.Fatalf("pass: %+v %v, want both minutes merged and their inputs deleted", res, err)
	}
	var got []uint64
	err = st.List(ctx, segments.SegmentsPrefix, "", func(oi backends.ObjectInfo) error {
		rc, err := st.Get(ctx, oi.Key, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		if bytes.Contains(b, []byte("entry ")) {
			return fmt.Errorf("%s holds plaintext", oi.Key)
		}
		if _, err := segments.NewReaderWith(bytes.NewReader(b), segments.ReadOptions{Identities: []*crypt.Identity{other}}); err == nil {
			return fmt.Errorf("%s opens with another identity", oi.Key)
		}
		rd, err := segments.NewReaderWith(bytes.NewReader(b), segments.ReadOptions{Identities: []*crypt.Identity{id}})
		if err != nil {
			return fmt.Errorf("%s: %w", oi.Key, err)
		}
		defer rd.Close()
		if h := rd.Header(); h.Version != segments.Version2 || !slices.Equal(h.Recipients, crypt.Fingerprints(o.Recipients)) {
			return fmt.Errorf("%s: version %d sealed to %v", oi.Key, h.Version, h.Recipients)
		}
		for {
			e, err := rd.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", oi.Key, err)
			}
			if string(e.Data) != fmt.Sprintf("entry %d", e.Index) || e.Time != t0.Add(time.Duration(e.Index)*time.Second).UnixNano() {
				return fmt.Errorf("%s: entry %d is %q", oi.Key, e.Index, e.Data)
			}
			got = append(got, e.Index)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for i := uint64(1); i <= 80; i++ {
		if i <= 30 || i > 60 {
			want = append(want, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("entries after compaction %v, want %v", got, want)
	}
	rep, err := pitr.VerifyWith(ctx, st, pitr.VerifyOptions{Identities: []*crypt.Identity{id}})
	if err != nil || len(rep.Damaged) != 0 || rep.Entries != 50 || rep.Segments != 2 || rep.SealedSegments != 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
