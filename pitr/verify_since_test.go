package pitr

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// countProgress sums what a Progress is told.
type countProgress struct {
	mu                          sync.Mutex
	totalObjs, totalBytes       int64
	addedObjs, addedBytes, adds int64
}

func (c *countProgress) Total(o, b int64) {
	c.mu.Lock()
	c.totalObjs, c.totalBytes = o, b
	c.mu.Unlock()
}
func (c *countProgress) Add(o, b int64) {
	c.mu.Lock()
	c.addedObjs += o
	c.addedBytes += b
	c.adds++
	c.mu.Unlock()
}

// TestVerifySince: with Since, only segments holding an entry stamped at
// or after it are read (damage in an older one goes unseen and is counted
// as not read), damage in a newer one is found, and the progress totals
// are what was read.
func TestVerifySince(t *testing.T) {
	for sname, mk := range stores(t) {
		t.Run(sname, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, mk(t), wal.FormatBinary, 41)
			f.timeline(t, segments.Timeline{ID: 1, StartIndex: 1}, 300)
			keys := f.keys[1]
			if len(keys) < 6 {
				t.Fatalf("only %d segments", len(keys))
			}
			mid, _ := segments.ParseSegmentKey(keys[len(keys)/2])
			since := time.Unix(0, mid.MaxTime)
			var recent, old []string
			for _, k := range keys {
				n, _ := segments.ParseSegmentKey(k)
				if n.MaxTime >= mid.MaxTime {
					recent = append(recent, k)
				} else {
					old = append(old, k)
				}
			}
			flip(t, f.st, old[0], segments.HeaderSizeV1+3)

			var mu sync.Mutex
			got := map[string]bool{}
			h := &hookStore{Store: f.st, onGet: func(key string) error { mu.Lock(); got[key] = true; mu.Unlock(); return nil }}
			prog := &countProgress{}
			r, err := VerifyWith(ctx, h, VerifyOptions{Since: since, Progress: prog})
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.NotRead != len(old) || r.NotReadBytes <= 0 || !r.Since.Equal(since) {
				t.Fatalf("since %v: report %+v", since, r)
			}
			for _, k := range old {
				if got[k] {
					t.Fatalf("read %s, older than --since", k)
				}
			}
			for _, k := range recent {
				if !got[k] {
					t.Fatalf("did not read %s, newer than --since", k)
				}
			}
			if prog.totalObjs != int64(len(recent)) || prog.addedObjs != prog.totalObjs || prog.addedBytes != prog.totalBytes {
				t.Fatalf("progress %+v, read %d segments", prog, len(recent))
			}
			var b strings.Builder
			r.Describe(&b)
			if !strings.Contains(b.String(), "older than that were listed, not read") {
				t.Fatalf("describe: %s", b.String())
			}

			// A full verify finds the old damage.
			full, err := Verify(ctx, f.st)
			if err != nil {
				t.Fatal(err)
			}
			if full.OK() || len(full.Damaged) != 1 || full.Damaged[0].Key != old[0] || full.NotRead != 0 {
				t.Fatalf("full verify %+v", full)
			}

			// Damage after Since is found with Since.
			flip(t, f.st, recent[len(recent)-1], segments.HeaderSizeV1+3)
			r, err = VerifyWith(ctx, f.st, VerifyOptions{Since: since})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || len(r.Damaged) != 1 || r.Damaged[0].Key != recent[len(recent)-1] {
				t.Fatalf("since verify after recent damage: %+v", r.Damaged)
			}
		})
	}
}
