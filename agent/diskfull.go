package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"syscall"
	"time"
)

// A full state dir. When the filesystem holding STATE refuses a write for
// space (ENOSPC: no block or inode left; EDQUOT: the user's quota), the
// agent stays up:
//
//   - Sealing pauses (runSealer): what was not committed is discarded (the
//     open segment's spill, segments in the pipe after the failure), the
//     fault is reported (Status.SealError, /healthz, walship_state_dir_full)
//     and logged once. The spool is probed with a write every
//     DiskFullBackoff; once it takes one, the sealer starts again from the
//     last committed entry as a start would (resume), and if that fails
//     for space again the wait doubles, up to DiskFullMaxBackoff. Its
//     entries wait in the source meanwhile.
//   - A state.json save that fails leaves the state in memory, ahead of the
//     file (saveState): reported (Status.StateError), saved again by
//     runStateSaver or any later save. A segment every store has verified
//     is still removed from the spool (gcCursor), so shipping what is
//     sealed frees space while state.json cannot be written.
//   - A new timeline is the exception: nothing of it may be sealed before
//     its record is durable, so newTimeline forgets it when the save fails
//     and the sealer pauses; resume finds the fork again.
//
// A start on a full state dir is the same (fullstart.go): the agent starts
// with sealing paused and ships what its spool holds.
//
// Any other failure to write STATE (a read-only filesystem, lost
// permissions) still stops the agent with its error.

// isDiskFull reports whether err, through its wrappers, is a filesystem
// refusing a write for space.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// fullCause is which of the two faults err is.
func fullCause(err error) syscall.Errno {
	if errors.Is(err, syscall.EDQUOT) {
		return syscall.EDQUOT
	}
	return syscall.ENOSPC
}

// diskFullReason is the message /healthz and /status show for a full state
// dir: which of the two faults, and what it holds up. It names no file, so
// it stays the same across retries.
func (a *Agent) diskFullReason(err error, holds string) string {
	return fmt.Sprintf("state dir %s is full (%v): %s; free space there", a.opt.StateDir, fullCause(err), holds)
}

// stateDirFullError is the error of a start that cannot wait for space:
// the state dir, that it is full, and what could not be done.
func stateDirFullError(dir string, err error, what string) error {
	return fmt.Errorf("state dir %s is full (%v): %s; free space there and start again: %w", dir, fullCause(err), what, err)
}

// setSealErr records that sealing is paused because the state dir is full
// (err), or that it works again (nil).
func (a *Agent) setSealErr(err error) {
	msg := ""
	if err != nil {
		msg = a.diskFullReason(err, "sealing paused and retried, sealed segments still ship")
	}
	a.sealErr.update(a.log, msg, err, slog.LevelError,
		"state dir full: sealing paused and retried; what is sealed still ships, entries wait in the source",
		"state dir has space again: sealing resumed", "state_dir", a.opt.StateDir)
}

// setStateErr records that state.json could not be saved because the state
// dir is full (err), and asks runStateSaver to try again; nil: it was saved.
// While sealing is paused for the same cause (logged once), a shipper's
// saves fail and succeed as its cleanup frees space and the world takes it
// again: those changes are logged at Debug only.
func (a *Agent) setStateErr(err error) {
	level := slog.LevelWarn
	if a.sealErr.active() {
		level = slog.LevelDebug
	}
	msg := ""
	if err != nil {
		msg = a.diskFullReason(err, "state.json not saved, progress kept in memory and saved when space returns")
		select {
		case a.saveDue <- struct{}{}:
		default:
		}
	}
	a.stateErr.update(a.log, msg, err, level,
		"state dir full: state.json not saved; progress is kept in memory and saved when space returns",
		"state.json saved again", "state_dir", a.opt.StateDir)
}

// spaceProbe is how many bytes the spool must take before the sealer tries
// again after a full state dir: a try is costly (the source is compared
// with the sealed history), a probe is not.
const spaceProbe = 64 << 10

// retryDiskFull waits, then calls try again, for as long as it fails for a
// full state dir. A probe of the spool (spaceProbe bytes) comes first,
// every *backoff: a probe costs nothing, so sealing resumes within that
// wait of space coming back. A try costs a comparison of the source with
// the sealed history, so *backoff doubles (up to DiskFullMaxBackoff) after
// each probe that passed. It returns try's result otherwise, or ctx's
// error when ctx ends first.
func (a *Agent) retryDiskFull(ctx context.Context, backoff *time.Duration, try func() error) error {
	for {
		if !sleep(ctx, *backoff) {
			return ctx.Err()
		}
		err := a.spool.probe(spaceProbe)
		if isDiskFull(err) {
			continue
		}
		if err == nil {
			*backoff = min(*backoff*2, a.opt.DiskFullMaxBackoff)
			err = try()
		}
		if !isDiskFull(err) {
			return err
		}
	}
}

// runStateSaver saves state.json again while a save is pending because the
// state dir was full: after DiskFullBackoff, doubling up to
// DiskFullMaxBackoff, until a save succeeds (its own, or one a shipper or
// the sealer made meanwhile). It returns nil when ctx ends, and a failure
// that is not a full disk (the state dir stopped being writable).
func (a *Agent) runStateSaver(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.saveDue:
		}
		for backoff := a.opt.DiskFullBackoff; a.stateErr.active(); backoff = min(backoff*2, a.opt.DiskFullMaxBackoff) {
			if !sleep(ctx, backoff) {
				return nil
			}
			a.mu.Lock()
			err := a.saveState()
			if err == nil {
				a.gcSpoolLocked() // what the saved cursors free
			}
			a.mu.Unlock()
			if err != nil && !isDiskFull(err) {
				return err
			}
		}
	}
}

// savedState is what state.json held after the last save that succeeded:
// what the spool may be cleaned by.
type savedState struct {
	cursors    map[string]string
	gaps       map[string][]Gap
	sealedItem string
}

func savedOf(st *state) savedState {
	gaps := make(map[string][]Gap, len(st.Gaps))
	for id, g := range st.Gaps {
		gaps[id] = slices.Clone(g)
	}
	return savedState{cursors: maps.Clone(st.Cursors), gaps: gaps, sealedItem: st.SealedItem}
}

// gcCursor is how far the spool may be cleaned for store id (a.mu held):
// its cursor as last saved, or further, up to the newest segment this run
// uploaded and verified there. A segment in the store may leave the spool
// before state.json says so: after a crash the older cursor has nothing to
// upload for it. Not while a gap recorded for the store (segments dropped
// at the spool bound) is unsaved: a restart would neither ship those
// segments nor know of the gap.
func (a *Agent) gcCursor(id string) string {
	if !slices.Equal(a.st.Gaps[id], a.saved.gaps[id]) {
		return a.saved.cursors[id]
	}
	return max(a.saved.cursors[id], a.verified[id])
}
