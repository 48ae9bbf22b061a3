// Package demo runs walship's whole loop on a temp dir and a file store: a
// built-in database appends to a tidwall/wal log at a steady rate while the
// agent ships it; then restores to the latest entry, to a middle index and to
// a middle time are compared byte for byte with the source.
package demo

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// Options size the demo.
type Options struct {
	Entries int           // entries the built-in writer appends (default 3000)
	Rate    int           // entries per second (default 1500)
	Dir     string        // work dir (default a new temp dir, removed afterwards)
	Out     io.Writer     // report
	Logger  *slog.Logger  // agent logs (default: discarded)
	Timeout time.Duration // whole run (default 2 minutes)
}

// Run runs the demo and returns an error if anything it checks fails.
func Run(ctx context.Context, o Options) error {
	if o.Entries <= 0 {
		o.Entries = 3000
	}
	if o.Rate <= 0 {
		o.Rate = 1500
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "walship-demo-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	r := &report{out: o.Out}
	walDir := filepath.Join(o.Dir, "db", "wal")
	storeDir := filepath.Join(o.Dir, "store")
	fmt.Fprintf(o.Out, "walship demo in %s\n", o.Dir)

	// The "database": a tidwall/wal log with a first entry, so it exists.
	db, err := tidwal.Open(walDir, &tidwal.Options{LogFormat: tidwal.Binary, SegmentSize: 256 << 10})
	if err != nil {
		return fmt.Errorf("create demo log: %w", err)
	}
	defer db.Close()
	store, err := file.Open(storeDir)
	if err != nil {
		return err
	}
	ts, _ := wal.ParseTimeSource("be64:0")
	a, err := agent.New(agent.Options{
		WALDir:       walDir,
		Tail:         wal.Options{Time: ts},
		SealSize:     128 << 10,
		SealInterval: 200 * time.Millisecond,
		Codec:        segments.CodecZstd,
		Stores:       []agent.Store{{Name: "file", Store: store}},
		Logger:       o.Logger,
	})
	if err != nil {
		return err
	}
	defer a.Close()
	runCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	agentErr := make(chan error, 1)
	go func() { agentErr <- a.Run(runCtx) }()

	// Write at a steady rate; each entry carries its write time (be64 at
	// offset 0), which the agent uses as the entry's timestamp.
	start := time.Now()
	times := make([]time.Time, o.Entries+1)
	rng := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(time.Second / time.Duration(o.Rate))
	var bytesWritten int64
	for i := 1; i <= o.Entries; i++ {
		select {
		case <-ctx.Done():
			stopAgent()
			return fmt.Errorf("demo writer: %w", ctx.Err())
		case <-tick.C:
		}
		now := time.Now()
		times[i] = now
		e := make([]byte, 8+rng.IntN(400))
		binary.BigEndian.PutUint64(e, uint64(now.UnixNano()))
		for j := 8; j < len(e); j++ {
			e[j] = byte('a' + rng.IntN(26))
		}
		if err := db.Write(uint64(i), e); err != nil {
			stopAgent()
			return fmt.Errorf("demo writer: %w", err)
		}
		bytesWritten += int64(len(e))
	}
	tick.Stop()
	r.step("database wrote entries 1..%d (%d bytes) at %d entries/s", start, o.Entries, bytesWritten, o.Rate)

	// Wait until the store holds everything.
	start = time.Now()
	for {
		st := a.Status()
		if st.Stores[0].Shipped >= uint64(o.Entries) {
			break
		}
		select {
		case err := <-agentErr:
			return fmt.Errorf("agent stopped: %v", err)
		case <-ctx.Done():
			stopAgent()
			return fmt.Errorf("waiting for the agent: %w (shipped %d of %d)", ctx.Err(), st.Stores[0].Shipped, o.Entries)
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.step("agent shipped and verified entries 1..%d in the file store", start, o.Entries)
	stopAgent()
	if err := <-agentErr; err != nil {
		return fmt.Errorf("agent: %w", err)
	}

	source, err := readLog(walDir, 1, uint64(o.Entries))
	if err != nil {
		return err
	}
	mid := uint64(o.Entries/2 + rng.IntN(o.Entries/4))
	tmid := uint64(o.Entries/4 + rng.IntN(o.Entries/4))
	checks := []struct {
		what string
		t    pitr.Target
		want uint64
	}{
		{"latest", pitr.Target{Latest: true}, uint64(o.Entries)},
		{fmt.Sprintf("--index %d", mid), pitr.Target{Index: mid}, mid},
		{fmt.Sprintf("--time %s (entry %d's time)", times[tmid].UTC().Format(time.RFC3339Nano), tmid), pitr.Target{Time: times[tmid]}, tmid},
	}
	for i, c := range checks {
		start = time.Now()
		out := filepath.Join(o.Dir, fmt.Sprintf("restore-%d", i))
		if _, _, err := pitr.Restore(ctx, store, c.t, out, pitr.Options{}); err != nil {
			return fmt.Errorf("restore %s: %w", c.what, err)
		}
		got, err := readLog(filepath.Join(out, "wal"), 1, c.want)
		if err != nil {
			return fmt.Errorf("restore %s: %w", c.what, err)
		}
		if err := compare(got, source[:c.want]); err != nil {
			return fmt.Errorf("restore %s: %w", c.what, err)
		}
		r.step("restore %s: entries 1..%d byte-identical to the source, nothing after", start, c.what, c.want)
	}
	rep, err := pitr.Verify(ctx, store)
	if err != nil {
		return err
	}
	if len(rep.Damaged)+len(rep.Gaps) > 0 {
		return fmt.Errorf("verify found damage: %+v", rep)
	}
	fmt.Fprintf(o.Out, "verify: %d segments, %d bytes in the store, all checksums good\nPASS: every restore matched the source exactly\n", rep.Segments, rep.Bytes)
	return nil
}

// readLog reads entries first..last of a tidwall/wal log and checks that the
// log ends there.
func readLog(dir string, first, last uint64) ([][]byte, error) {
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, AllowEmpty: true})
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	defer l.Close()
	f, _ := l.FirstIndex()
	li, _ := l.LastIndex()
	if f != first || li != last {
		return nil, fmt.Errorf("log %s holds entries %d..%d, want %d..%d", dir, f, li, first, last)
	}
	var out [][]byte
	for i := first; i <= last; i++ {
		b, err := l.Read(i)
		if err != nil {
			return nil, fmt.Errorf("read entry %d of %s: %w", i, dir, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func compare(got, want [][]byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Errorf("entry %d differs", i+1)
		}
	}
	return nil
}

type report struct{ out io.Writer }

func (r *report) step(format string, start time.Time, args ...any) {
	fmt.Fprintf(r.out, "  ok  %-90s %8v\n", fmt.Sprintf(format, args...), time.Since(start).Round(time.Millisecond))
}
