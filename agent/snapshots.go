package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/fanout"
	"github.com/walship/walship/snapshot"
	"github.com/walship/walship/throttle"
)

// SnapshotOptions configure base snapshots. Set Command (the database makes
// a checkpoint and prints {"dir": ..., "index": N}) or DataDir (walship
// hard-links it, bracketed by the optional Freeze and Thaw commands, which
// must leave the data dir holding every entry the WAL holds).
type SnapshotOptions struct {
	Command, Release []string
	DataDir          string
	Freeze, Thaw     []string
	// Interval takes a snapshot this often; AfterWALBytes after this many
	// raw WAL bytes were sealed since the last one (bounding replay). Zero:
	// not by that trigger. A new timeline after a gap always takes one.
	Interval      time.Duration
	AfterWALBytes int64
	ChunkSize     int
	// RetryAfter is the wait after a failed snapshot; default 1 minute.
	RetryAfter time.Duration
}

func (o SnapshotOptions) configured() bool { return len(o.Command) > 0 || o.DataDir != "" }

// snapReq asks the snapshot loop for a snapshot; src is set for the Go API.
type snapReq struct {
	why   string
	src   *snapshot.Source
	reply chan snapResult
}

type snapResult struct {
	m   snapshot.Manifest
	err error
}

// TakeSnapshot captures a base snapshot with the configured method and
// uploads it to every store that is not degraded; it waits for the result.
// Safe to call while Run runs (it is what `walship snapshot` triggers).
func (a *Agent) TakeSnapshot(ctx context.Context) (snapshot.Manifest, error) {
	if !a.opt.Snapshot.configured() {
		return snapshot.Manifest{}, errors.New("no snapshot method configured: set snapshot.command, or source.data for a hard-link snapshot")
	}
	return a.requestSnapshot(ctx, snapReq{why: "requested"})
}

// SnapshotFrom is the Go API for a database that embeds walship: dir is a
// consistent copy of its data holding every WAL entry <= index. walship
// uploads it to every store that is not degraded and waits for the result.
func (a *Agent) SnapshotFrom(ctx context.Context, dir string, index uint64) (snapshot.Manifest, error) {
	return a.requestSnapshot(ctx, snapReq{why: "api", src: &snapshot.Source{Dir: dir, Index: index}})
}

func (a *Agent) requestSnapshot(ctx context.Context, r snapReq) (snapshot.Manifest, error) {
	r.reply = make(chan snapResult, 1)
	select {
	case a.snapReqs <- r:
	case <-ctx.Done():
		return snapshot.Manifest{}, ctx.Err()
	case <-a.sealerDone:
		return snapshot.Manifest{}, errors.New("agent is stopping")
	}
	select {
	case res := <-r.reply:
		return res.m, res.err
	case <-ctx.Done():
		return snapshot.Manifest{}, ctx.Err()
	}
}

// runSnapshots takes snapshots on schedule and on request, one at a time,
// until ctx ends. Failures are logged and retried after RetryAfter; they
// never stop the agent (the WAL keeps shipping).
func (a *Agent) runSnapshots(ctx context.Context) {
	o := a.opt.Snapshot
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now()
	took := false // a base was taken in this run
	var retryAt time.Time
	for {
		var req snapReq
		select {
		case <-ctx.Done():
			return
		case req = <-a.snapReqs:
		case <-tick.C:
			now := time.Now()
			due := ""
			switch {
			case !o.configured() || now.Before(retryAt):
			case a.gapSnapshotDue.Load():
				due = "new timeline after a gap"
			case o.Interval > 0 && now.Sub(last) >= o.Interval && took && a.walSinceSnapshot.Load() == 0:
				// Nothing sealed since the last base: another would hold
				// the same entries, at the price of a capture and its
				// requests. An idle agent makes none.
				last = now
			case o.Interval > 0 && now.Sub(last) >= o.Interval:
				due = "interval"
			case o.AfterWALBytes > 0 && a.walSinceSnapshot.Load() >= o.AfterWALBytes:
				due = "after_wal_bytes"
			}
			if due == "" {
				continue
			}
			req = snapReq{why: due}
		}
		m, err := a.snapshot(ctx, req)
		if req.reply != nil {
			req.reply <- snapResult{m, err}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.metrics.snapshots.WithLabelValues("failed").Inc()
			a.log.Error("base snapshot failed; the WAL keeps shipping, retrying later", "why", req.why, "retry_in", o.RetryAfter, "err", err)
			retryAt = time.Now().Add(o.RetryAfter)
			continue
		}
		last, retryAt, took = time.Now(), time.Time{}, true
	}
}

// snapshotTargets groups the healthy stores by recipient set: the plain
// ones get one upload (a fanout), each encrypted set its own, sealed to
// its recipients with its chunks named under the agent's chunk secret.
func (a *Agent) snapshotTargets(ctx context.Context) ([]snapshot.Target, []string) {
	var ids []string
	for _, s := range a.opt.Stores {
		ids = append(ids, s.Store.String())
	}
	a.leases.freshen(ctx, ids...)
	var names []string
	var order []*recipientSet // nil: the plain stores
	groups := map[*recipientSet][]backends.Store{}
	for i, s := range a.opt.Stores {
		if a.shippers[i].degraded.Load() || !a.leases.writable(s.Store.String()) {
			continue
		}
		set := a.byStore[i]
		if _, ok := groups[set]; !ok {
			order = append(order, set)
		}
		groups[set] = append(groups[set], s.Store)
		names = append(names, s.Name)
	}
	var ts []snapshot.Target
	for _, set := range order {
		tg := snapshot.Target{Store: fanout.New(groups[set]...)}
		if set != nil {
			tg.Recipients, tg.ChunkSecret = set.rs, a.chunkSecret
		}
		ts = append(ts, tg)
	}
	return ts, names
}

// snapshot captures one base and uploads it to every healthy store at low
// priority (behind live WAL segments, under the bulk rate cap): captured
// once, uploaded once per recipient set (snapshotTargets).
func (a *Agent) snapshot(ctx context.Context, req snapReq) (snapshot.Manifest, error) {
	targets, names := a.snapshotTargets(ctx)
	if len(targets) == 0 {
		return snapshot.Manifest{}, errors.New("every store is degraded")
	}
	a.mu.Lock()
	tl := a.st.current().ID
	a.mu.Unlock()
	walBefore := a.walSinceSnapshot.Load()
	gapBefore := a.gapSnapshotDue.Load()
	var st backends.Store // nil: so.Targets
	ctx = throttleLow(ctx)
	so := snapshot.Options{Timeline: tl, ChunkSize: a.opt.Snapshot.ChunkSize, Logger: a.log, Targets: targets}
	start := time.Now()
	var m snapshot.Manifest
	var stats snapshot.Stats
	var err error
	switch {
	case req.src != nil:
		m, stats, err = snapshot.Upload(ctx, st, *req.src, so)
	case len(a.opt.Snapshot.Command) > 0:
		m, stats, err = snapshot.Command{Argv: a.opt.Snapshot.Command, Release: a.opt.Snapshot.Release}.Snapshot(ctx, st, so)
	default:
		m, stats, err = snapshot.Freeze{DataDir: a.opt.Snapshot.DataDir, StateDir: a.opt.StateDir,
			FreezeCmd: a.opt.Snapshot.Freeze, ThawCmd: a.opt.Snapshot.Thaw, Index: func() uint64 { return a.frozenIndex(tl) }}.Snapshot(ctx, st, so)
	}
	if err != nil {
		return m, fmt.Errorf("snapshot (%s): %w", req.why, err)
	}
	a.walSinceSnapshot.Add(-walBefore)
	if gapBefore {
		a.gapSnapshotDue.Store(false)
		a.mu.Lock()
		a.st.BaseDue = false
		err := a.saveStateOrDefer()
		a.mu.Unlock()
		if err != nil {
			return m, err
		}
	}
	a.metrics.snapshots.WithLabelValues("ok").Inc()
	a.log.Info("base snapshot stored", "why", req.why, "timeline", m.Timeline, "index", m.Index, "key", m.Key(),
		"stores", names, "files", stats.Files, "bytes", stats.BytesRead, "uploaded_bytes", stats.BytesUploaded,
		"chunks_skipped", stats.ChunksSkipped, "elapsed", time.Since(start).Round(time.Millisecond))
	return m, nil
}

// frozenIndex is the WAL index a hard-link copy holds: the source log's last
// entry while the database is frozen (Freeze must make the data dir hold
// every entry the WAL holds). The base is labelled with timeline tl, so the
// frozen source must agree with tl's sealed history: after a TruncateBack
// the sealer has not seen yet, it belongs to a timeline not yet recorded.
// Then, or when tl is no longer current, it returns 0: the snapshot fails
// and is retried once the new timeline is recorded.
func (a *Agent) frozenIndex(tl uint32) uint64 {
	first, last, err := a.tail.Bounds()
	if err != nil {
		return 0 // Upload refuses index 0: the snapshot fails and is retried
	}
	a.mu.Lock()
	cur := a.st.current().ID
	sealed := a.st.Sealed.Index
	a.mu.Unlock()
	if cur != tl {
		a.log.Warn("base snapshot deferred: a new timeline started while it was taken", "timeline", tl, "now", cur)
		return 0
	}
	cb, _, _ := a.crc.covers()
	lo, hi := max(first, cb), min(sealed, last)
	if last < sealed {
		a.log.Warn("base snapshot deferred: the source ends before the sealed history (TruncateBack not yet handled)", "last", last, "sealed", sealed)
		return 0
	}
	if m, err := a.crcMismatch(lo, hi); err != nil || m != 0 {
		a.log.Warn("base snapshot deferred: the source differs from the sealed history (TruncateBack not yet handled)", "entry", m, "err", err)
		return 0
	}
	return last
}

// throttleLow marks bulk work (snapshots, prunes) so live WAL segments go
// first on shared rate limits.
func throttleLow(ctx context.Context) context.Context {
	return throttle.WithPriority(ctx, throttle.Low)
}
