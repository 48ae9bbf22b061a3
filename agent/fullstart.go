package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A start on a full state dir. An agent restarted on a full disk (by
// systemd, after a crash) behaves as a running agent that hits one
// (diskfull.go): it ships what its spool holds, with sealing paused, and
// seals again once the spool takes a probe. What it writes at start is of
// three kinds:
//
//   - Needed before anything ships, so a full state dir still fails the
//     start, with one error naming the dir and saying it is full: creating
//     the state dir and its LOCK file (lockDir: the flock is what keeps a
//     second agent off the spool). Both exist once an agent has run there,
//     so only a state dir with nothing to ship can fail this way.
//   - Not needed to ship, so they wait (a.startFull; the start goes on):
//     New's probe of the state dir (an empty file: ENOSPC there means no
//     inode left), a first chunk secret (used only by base snapshots), the
//     spool dir of a state dir that has none (it holds nothing).
//     recover's saves wait in memory like any other (saveStateOrDefer); it
//     only removes files besides (open segments, unchecked encrypted
//     copies, what every store holds), which a full disk allows, as does
//     clearing compaction's scratch dir.
//   - Needed before sealing (startSealing): a fresh state's state.json,
//     the chunk secret, a spool dir per recipient set, sealed.crc fitted
//     and a new timeline saved when the source was rewritten meanwhile
//     (resume). Run tries them once the spool takes a probe; else the
//     agent starts with Status.SealError set, /healthz's seal line and
//     walship_state_dir_full, and awaitStart retries them as the sealer
//     retries a resumption (retryDiskFull), before the sealer starts.
//
// Shipping before the fork check ships nothing unchecked: every spool
// segment was sealed from the history its timeline records (a rewrite
// found later starts a new timeline and leaves the old one's segments
// valid), adopted ones were read whole, and encrypted copies that do not
// check out were removed. Base snapshots and compaction start with
// sealing (awaitStarted): a base needs the fork check, compaction a
// scratch dir in the state dir. Any other write failure (a read-only
// filesystem, lost permissions) still fails the start.

// deferStart records that a start-up write (what) failed for space and
// waits until sealing starts; the first such failure is the one reported.
func (a *Agent) deferStart(err error, what string) {
	a.log.Debug("state dir full at start: deferred until it has space", "what", what, "err", err)
	if a.startFull == nil {
		a.startFull = err
	}
}

// tryStartSealing is the last step of a start: startSealing, when the
// spool takes a probe and no earlier write of the start waits for space.
// Otherwise it reports the full state dir and returns the fault (pending)
// for awaitStart; the agent starts shipping with sealing paused. err is a
// failure that must stop the start.
func (a *Agent) tryStartSealing(ctx context.Context) (pending, err error) {
	pending = a.startFull
	if pending == nil {
		pending = a.spool.probe(spaceProbe) // as a resumption after a full disk needs
	}
	if pending == nil {
		pending = a.startSealing(ctx)
	}
	switch {
	case pending == nil:
		close(a.started)
		return nil, nil
	case !isDiskFull(pending):
		return nil, pending
	}
	a.setSealErr(pending)
	// Outputs of a compaction killed while it wrote them only take space:
	// runCompaction, which clears them too, waits for sealing to start.
	if err := os.RemoveAll(filepath.Join(a.opt.StateDir, "compact")); err != nil {
		a.log.Warn("cannot clear compaction's temporary directory", "err", err)
	}
	// What the source holds past the sealed history waits there: lag,
	// counted from now as for entries discarded by a pause.
	if _, last, err := a.tail.Bounds(); err == nil {
		a.mu.Lock()
		if last > a.st.Sealed.Index {
			a.tailed.Store(last)
			a.keepUnsealedLocked(time.Now())
		}
		a.mu.Unlock()
	}
	return pending, nil
}

// awaitStart waits, when the start left sealing pending (a full state
// dir), until the spool takes a probe and startSealing succeeds, with
// retryDiskFull's waits; then sealing may run. It returns ctx's error when
// ctx ends first, or a failure other than a full disk.
func (a *Agent) awaitStart(ctx context.Context, pending error) error {
	if pending == nil {
		return nil
	}
	backoff := a.opt.DiskFullBackoff
	err := a.retryDiskFull(ctx, &backoff, func() error { return a.startSealing(ctx) })
	if err != nil {
		if ctx.Err() != nil {
			a.log.Warn("stopped while the state dir is full, before sealing started; what the source holds is read at the next start", "err", pending)
		}
		return err
	}
	close(a.started)
	return nil
}

// awaitStarted waits until sealing has started (at once unless the state
// dir was full at start) and reports whether it did before ctx ended.
// With snaps, a snapshot requested meanwhile is refused, saying why.
func (a *Agent) awaitStarted(ctx context.Context, snaps bool) bool {
	var reqs chan snapReq // nil: never ready
	if snaps {
		reqs = a.snapReqs
	}
	for {
		select {
		case <-a.started:
			return true
		case <-ctx.Done():
			return false
		case r := <-reqs:
			r.reply <- snapResult{err: fmt.Errorf("state dir %s is full: base snapshots wait until sealing starts; free space there", a.opt.StateDir)}
		}
	}
}
