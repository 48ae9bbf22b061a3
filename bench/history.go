package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/compact"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/retention"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
	"github.com/walship/walship/wal"
)

// benchHistory (-store history) measures what a long history costs and
// what compaction saves: a file store holding n one-second segments of 8
// entries (as an agent at the default seal interval leaves after n
// seconds), then, before and after one compaction pass (minute and hour
// windows, no grace), for a restore plan of the latest entry and of an
// index in the middle, a restore of the latest entry, verify and two prune
// plans (a 24 h window, which deletes nothing without a base, and a 1 h
// window with a base at the newest entry, which deletes every segment but
// the newest): the time, the store requests by operation, the objects listed
// (an S3 LIST returns 1,000) and the peak Go heap above the start.
func benchHistory(dir string, n int) error {
	storeDir := filepath.Join(dir, "history")
	raw, err := writeHistory(storeDir, n)
	if err != nil {
		return err
	}
	fs, err := file.Open(storeDir)
	if err != nil {
		return err
	}
	st := metered.New(fs)
	mid := uint64(n) * 8 / 2
	var est estimated // of the last "restore latest"
	ops := []struct {
		name  string
		run   func(ctx context.Context) error
		setup func(ctx context.Context) (undo func() error, err error) // before the timing, undone after; nil: none
	}{
		{name: "plan latest", run: func(ctx context.Context) error {
			_, err := pitr.MakePlan(ctx, st, pitr.Target{Latest: true})
			return err
		}},
		{name: "plan index mid", run: func(ctx context.Context) error { _, err := pitr.MakePlan(ctx, st, pitr.Target{Index: mid}); return err }},
		{name: "restore latest", run: func(ctx context.Context) error {
			out, err := os.MkdirTemp(dir, "restore")
			if err != nil {
				return err
			}
			defer os.RemoveAll(out)
			est, err = restoreEstimated(ctx, st, filepath.Join(out, "r"), pitr.Options{})
			return err
		}},
		{name: "verify", run: func(ctx context.Context) error {
			r, err := pitr.Verify(ctx, st)
			if err == nil && !r.OK() {
				err = fmt.Errorf("verify found problems")
			}
			return err
		}},
		{name: "prune plan", run: func(ctx context.Context) error {
			_, err := retention.Plan(ctx, st, retention.Policy{Window: 24 * time.Hour}, time.Now())
			return err
		}},
		// With a base at the newest entry (taken before the timing, deleted
		// after) and a window shorter than the 2 h since that entry, the
		// plan deletes every segment but the newest.
		{name: "prune plan base", run: func(ctx context.Context) error {
			pl, err := retention.Plan(ctx, st, retention.Policy{Window: time.Hour}, time.Now())
			if err == nil {
				pl.Release()
			}
			return err
		}, setup: func(ctx context.Context) (func() error, error) { return baseAt(ctx, fs, dir, uint64(n)*8) }},
	}
	type row struct {
		took   time.Duration
		counts metered.Counts
		heap   uint64
	}
	measureAll := func() ([]row, error) {
		var rows []row
		for _, op := range ops {
			undo := func() error { return nil }
			if op.setup != nil {
				if undo, err = op.setup(context.Background()); err != nil {
					return nil, fmt.Errorf("%s: %w", op.name, err)
				}
			}
			before := st.Counts()
			stop := heapPeak()
			start := time.Now()
			if err := op.run(context.Background()); err != nil {
				return nil, fmt.Errorf("%s: %w", op.name, err)
			}
			took := time.Since(start)
			rows = append(rows, row{took, st.Counts().Sub(before), stop()})
			if err := undo(); err != nil {
				return nil, fmt.Errorf("%s: %w", op.name, err)
			}
		}
		return rows, nil
	}
	fmt.Printf("history: %d segments of 8 entries (%s of entries), one a second: %s of history\n",
		n, human(raw), (time.Duration(n) * time.Second).Round(time.Minute))
	beforeRows, err := measureAll()
	if err != nil {
		return err
	}
	fmt.Printf("restore latest before compaction: %s\n", est)
	start := time.Now()
	c0 := st.Counts()
	res, err := compact.Pass(context.Background(), st, compact.Options{Codec: segments.CodecZstd, TempDir: dir, Grace: -1}, nil)
	if err != nil {
		return err
	}
	fmt.Printf("compaction pass: %d segments merged into %d, %d deleted, in %v; %s\n",
		res.Merged, res.Outputs, res.Deleted, time.Since(start).Round(time.Millisecond), st.Counts().Sub(c0))
	afterRows, err := measureAll()
	if err != nil {
		return err
	}
	fmt.Printf("restore latest after compaction: %s\n", est)
	fmt.Printf("%-15s %12s %12s %8s   %-24s %-24s   %10s %10s\n", "", "before", "after", "ratio", "requests before", "requests after", "heap before", "after")
	for i, op := range ops {
		b, a := beforeRows[i], afterRows[i]
		fmt.Printf("%-15s %12v %12v %7.1fx   %-24s %-24s   %10s %10s\n", op.name, b.took.Round(10*time.Microsecond), a.took.Round(10*time.Microsecond),
			b.took.Seconds()/a.took.Seconds(), reqs(b.counts), reqs(a.counts), human(int64(b.heap)), human(int64(a.heap)))
	}
	return nil
}

// reqs is a request summary: GETs, LIST calls and objects listed.
func reqs(c metered.Counts) string {
	return fmt.Sprintf("get %d, list %d (%d keys)", c.Get.Calls, c.List.Calls, c.ListObjects)
}

// writeHistory writes n segments of timeline 1 as a file store's files
// (without per-file fsync), the newest entry a minute ago, and returns the
// entry bytes.
func writeHistory(dir string, n int) (int64, error) {
	t0 := time.Now().Add(-time.Duration(n)*time.Second - 2*time.Hour)
	rec, err := segments.EncodeTimeline(segments.Timeline{ID: 1, StartIndex: 1, Reason: "bench", Time: t0})
	if err != nil {
		return 0, err
	}
	if err := writeObject(dir, segments.TimelineKey(1), rec); err != nil {
		return 0, err
	}
	var raw int64
	data := make([]byte, 64)
	var buf memSink
	for s := range n {
		buf.b = buf.b[:0]
		w, err := segments.NewWriter(&buf, 1, uint8(wal.FormatBinary), segments.CodecZstd)
		if err != nil {
			return 0, err
		}
		for k := range 8 {
			idx := uint64(s*8 + k + 1)
			for i := range data {
				data[i] = byte(idx >> (8 * (i % 8)))
			}
			at := t0.Add(time.Duration(s)*time.Second + time.Duration(k)*time.Millisecond)
			if err := w.Append(segments.Entry{Index: idx, Time: at.UnixNano(), Data: data}); err != nil {
				return 0, err
			}
			raw += int64(len(data))
		}
		h, err := w.Finish()
		if err != nil {
			return 0, err
		}
		if err := writeObject(dir, segments.NameOf(h).Key(), buf.b); err != nil {
			return 0, err
		}
	}
	return raw, nil
}

// baseAt uploads a base snapshot of a one-file data dir at entry idx of
// timeline 1 to st and returns what deletes it again.
func baseAt(ctx context.Context, st backends.Store, dir string, idx uint64) (func() error, error) {
	data, err := os.MkdirTemp(dir, "base")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	if err := os.WriteFile(filepath.Join(data, "db"), []byte("bench"), 0o600); err != nil {
		return nil, err
	}
	m, _, err := snapshot.Upload(ctx, st, snapshot.Source{Dir: data, Index: idx}, snapshot.Options{Timeline: 1})
	if err != nil {
		return nil, err
	}
	return func() error {
		for _, f := range m.Files {
			for _, d := range f.Chunks {
				if err := st.Delete(ctx, segments.ChunkKey(d)); err != nil {
					return err
				}
			}
		}
		return st.Delete(ctx, m.Key())
	}, nil
}

func writeObject(dir, key string, b []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// memSink is a segments.Sink in memory.
type memSink struct{ b []byte }

func (s *memSink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *memSink) WriteAt(p []byte, off int64) (int, error) {
	copy(s.b[off:], p)
	return len(p), nil
}

// heapPeak samples the Go heap every 20 ms until the returned func is
// called, which returns the peak above the heap at the start.
func heapPeak() func() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > peak.Load() {
				peak.Store(m.HeapAlloc - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}
