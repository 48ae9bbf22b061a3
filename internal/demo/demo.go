// Package demo runs walship's whole loop on a temp dir and a file store: a
// tiny key-value database appends mutations to a tidwall/wal log at a steady
// rate and makes checkpoints, while the agent ships the log and takes base
// snapshots through snapshot.command; then restores to the latest entry, to
// a middle index, to a middle time and to random targets are checked: the
// restored WAL byte for byte against the source, and the rebuilt key-value
// state (base data + replayed WAL) against the state the database had then.
package demo

import (
	"context"
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
	"github.com/walship/walship/snapshot"
	"github.com/walship/walship/wal"
)

// Options size the demo.
type Options struct {
	Entries int           // mutations the database writes (default 3000)
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
	dbDir := filepath.Join(o.Dir, "db")
	walDir := filepath.Join(dbDir, "wal")
	storeDir := filepath.Join(o.Dir, "store")
	fmt.Fprintf(o.Out, "walship demo in %s\n", o.Dir)

	db, err := tidwal.Open(walDir, &tidwal.Options{LogFormat: tidwal.Binary, SegmentSize: 256 << 10, NoSync: true}) // the demo database does not fsync; walship does
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
		SealSize:     64 << 10,
		SealInterval: 200 * time.Millisecond,
		Codec:        segments.CodecZstd,
		Stores:       []agent.Store{{Name: "file", Store: store}},
		Logger:       o.Logger,
		Snapshot: agent.SnapshotOptions{
			Command:    []string{"cat", filepath.Join(dbDir, "latest.json")},
			Interval:   time.Duration(o.Entries/4) * time.Second / time.Duration(o.Rate),
			RetryAfter: 100 * time.Millisecond,
		},
	})
	if err != nil {
		return err
	}
	defer a.Close()
	runCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	agentErr := make(chan error, 1)
	go func() { agentErr <- a.Run(runCtx) }()

	// The database: mutations at a steady rate, a checkpoint every tenth of
	// the run. Each entry carries its write time (be64 at offset 0), which
	// the agent uses as the entry's timestamp.
	start := time.Now()
	entries := make([][]byte, o.Entries+1)
	times := make([]time.Time, o.Entries+1)
	state := kvState{}
	rng := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(time.Second / time.Duration(o.Rate))
	checkpoints := 0
	for i := 1; i <= o.Entries; i++ {
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo database: %w", ctx.Err())
		case <-tick.C:
		}
		m := mutation{Op: "set", K: fmt.Sprintf("key%03d", rng.IntN(300)), V: fmt.Sprintf("v%d-%x", i, rng.Uint32())}
		if rng.IntN(10) == 0 {
			m = mutation{Op: "del", K: m.K}
		}
		now := time.Now()
		e := encodeMutation(now.UnixNano(), m)
		if err := db.Write(uint64(i), e); err != nil {
			return fmt.Errorf("demo database: %w", err)
		}
		state.apply(e)
		entries[i], times[i] = e, now
		if i%(o.Entries/10) == 0 {
			if err := state.checkpoint(dbDir, uint64(i)); err != nil {
				return fmt.Errorf("demo checkpoint: %w", err)
			}
			checkpoints++
		}
	}
	tick.Stop()
	r.step("database wrote %d mutations at %d/s, made %d checkpoints", start, o.Entries, o.Rate, checkpoints)

	start = time.Now()
	for a.Status().Stores[0].Shipped < uint64(o.Entries) {
		select {
		case err := <-agentErr:
			return fmt.Errorf("agent stopped: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the agent: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.step("agent shipped and verified entries 1..%d", start, o.Entries)
	start = time.Now()
	m, err := a.TakeSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	bases, err := snapshot.List(ctx, store)
	if err != nil {
		return err
	}
	r.step("base snapshots in the store: %d (newest at index %d, taken on request)", start, len(bases), m.Index)
	stopAgent()
	if err := <-agentErr; err != nil {
		return fmt.Errorf("agent: %w", err)
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
		{"--index 5 (before any base)", pitr.Target{Index: 5}, 5},
	}
	for k := 0; k < 4; k++ {
		x := 1 + uint64(rng.IntN(o.Entries))
		checks = append(checks, struct {
			what string
			t    pitr.Target
			want uint64
		}{fmt.Sprintf("--index %d (random)", x), pitr.Target{Index: x}, x})
	}
	for i, c := range checks {
		start = time.Now()
		out := filepath.Join(o.Dir, fmt.Sprintf("restore-%d", i))
		if _, _, err := pitr.Restore(ctx, store, c.t, out, pitr.Options{}); err != nil {
			return fmt.Errorf("restore %s: %w", c.what, err)
		}
		base, replayed, err := checkRestore(out, entries, c.want)
		if err != nil {
			return fmt.Errorf("restore %s: %w", c.what, err)
		}
		from := "no base, WAL from entry 1"
		if base > 0 {
			from = fmt.Sprintf("base at %d", base)
		}
		r.step("restore %s: %s + %d WAL entries byte-identical; key-value state = the database's at entry %d", start, c.what, from, replayed, c.want)
	}
	rep, err := pitr.Verify(ctx, store)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("verify found damage: %+v", rep)
	}
	fmt.Fprintf(o.Out, "verify: %d segments, %d bytes in the store, all checksums good\nPASS: every restore matched the source exactly\n", rep.Segments, rep.Bytes)
	return nil
}

type report struct{ out io.Writer }

func (r *report) step(format string, start time.Time, args ...any) {
	fmt.Fprintf(r.out, "  ok  %-100s %8v\n", fmt.Sprintf(format, args...), time.Since(start).Round(time.Millisecond))
}
