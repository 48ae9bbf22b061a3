package agent

import (
	"slices"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/compact"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
)

// Given an identity (compaction.identity_file), the agent compacts the
// encrypted store it opens: the store ends with fewer segments than were
// shipped, every one v2 sealed to the store's recipient alone, no object
// holding the plaintext marker (outputs are not compressed, so plaintext
// would show), and it restores byte for byte with the identity and not
// without. An encrypted store the identity does not open is left as
// shipped.
func TestCompactionOfEncryptedStoreWithIdentity(t *testing.T) {
	src := newSource(t, tidwal.Binary)
	id, rcpt := testIdentity(t)
	otherID, otherRcpt := testIdentity(t)
	opened, closed := fileStore(t), fileStore(t)
	r := startWith(t, src.dir, func(o *Options) {
		o.Codec = segments.CodecNone
		o.Stores[0].Recipients = []*crypt.Recipient{rcpt}
		o.Stores[1].Recipients = []*crypt.Recipient{otherRcpt}
		o.Compaction = CompactionOptions{Interval: 100 * time.Millisecond, Options: compact.Options{
			Levels: []time.Duration{time.Second}, Delay: time.Millisecond, Grace: -1,
			Codec: segments.CodecNone, Identities: []*crypt.Identity{id}}}
	}, opened, closed)
	for range 12 {
		src.write(25, marker)
		r.waitShipped(t, 1, src.last())
		time.Sleep(40 * time.Millisecond)
	}
	shipped := len(segmentHeaders(t, closed))
	if shipped < 6 {
		t.Fatalf("only %d segments shipped: nothing to compact", shipped)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(segmentHeaders(t, opened)) > shipped/3 {
		if time.Now().After(deadline) {
			t.Fatalf("the encrypted store the identity opens still holds %d of %d segments", len(segmentHeaders(t, opened)), shipped)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.halt(t)

	for k, h := range segmentHeaders(t, opened) {
		if h.Version != segments.Version2 || !slices.Equal(h.Recipients, []crypt.Fingerprint{rcpt.Fingerprint()}) {
			t.Fatalf("compacted store: %s is version %d to %v", k, h.Version, h.Recipients)
		}
	}
	if got := objectsHolding(t, opened, marker); len(got) > 0 {
		t.Fatalf("the compacted encrypted store holds the plaintext marker in %v", got)
	}
	if n := len(segmentHeaders(t, closed)); n != shipped {
		t.Fatalf("the store the identity does not open went from %d to %d segments", shipped, n)
	}
	last := src.last()
	restoreWith(t, opened, pitr.Target{Latest: true}, []*crypt.Identity{id}, src.want, 1, last)
	restoreWith(t, opened, pitr.Target{Index: last / 2}, []*crypt.Identity{id}, src.want, 1, last/2)
	restoreFails(t, opened, pitr.Target{Latest: true}, nil, rcpt.Fingerprint())
	restoreWith(t, closed, pitr.Target{Latest: true}, []*crypt.Identity{otherID}, src.want, 1, last)
}
