package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/segments"
)

// drain measures a backlog drain, the case an operator meets after an
// outage: the store holds every upload (it answers nothing, it refuses
// nothing) until the agent has sealed the whole log into its spool, then
// lets them through. It returns the seconds from the release until the
// last segment is shipped and verified: uploads only, like the raw PUT
// baseline of the same objects at the same concurrency.
func drain(ctx context.Context, client, name string, hc *httpCounter, bucket string, srv minioServer, dir, walDir string, last uint64, codec segments.Codec) (float64, error) {
	tg, err := newTarget(ctx, client, hc.addr, bucket, name, srv)
	if err != nil {
		return 0, err
	}
	defer tg.close()
	hc.hold()
	defer hc.release()
	a, err := agent.New(agent.Options{WALDir: walDir, StateDir: filepath.Join(dir, "state-"+name), Codec: codec,
		Stores: []agent.Store{{Store: tg.store}}, SealInterval: 50 * time.Millisecond, UploadsInFlight: uploadsInFlight,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	defer a.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	wait := func(reached func(agent.Status) bool) error {
		for !reached(a.Status()) {
			select {
			case err := <-done:
				return fmt.Errorf("agent stopped: %v", err)
			case <-time.After(time.Millisecond):
			}
		}
		return nil
	}
	if err := wait(func(s agent.Status) bool { return s.Sealed >= last }); err != nil {
		return 0, err
	}
	start := time.Now()
	hc.release()
	if err := wait(func(s agent.Status) bool { return s.Stores[0].Shipped >= last }); err != nil {
		return 0, err
	}
	secs := time.Since(start).Seconds()
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil && runCtx.Err() == nil {
		return 0, err
	}
	hc.take() // the drain's requests are not the ship's
	return secs, nil
}
