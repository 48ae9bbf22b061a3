package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// recover brings state and spool into agreement, as far as shipping the
// spool needs, and writes nothing that must succeed (a full state dir
// does not stop it): a fresh state is made for timeline 1 where the log
// starts, in memory (startSealing saves it); the encrypted copies in the
// spool are checked (one that does not check out is removed, never
// shipped); a spool segment sealed after the last state save is adopted
// (read whole, its CRCs checked; the save may wait); what every store
// holds leaves the spool. startSealing does the rest, before sealing.
func (a *Agent) recover() error {
	first, _, err := a.tail.Bounds()
	if err != nil {
		return fmt.Errorf("read source %s: %w", a.opt.WALDir, err)
	}
	if a.fresh {
		// A fresh state claims only what it seals itself: segments left in
		// the spool by a state that is gone cannot be proved complete.
		if left, err := a.spool.items(); err != nil {
			return err
		} else if len(left) > 0 {
			return fmt.Errorf("state dir %s has no state.json but its spool holds %d sealed segment(s) (%s...): "+
				"a damaged or partly removed state. Move the whole state dir away (keep it: its spool may hold entries no store has) "+
				"and start with an empty --state and a fresh store prefix", a.opt.StateDir, len(left), left[0])
		}
		// Whether a store already holds another backup is checked by each
		// store's shipper before its first upload (checkUnused), so a store
		// that does not answer holds up no other.
		a.mu.Lock()
		a.st, a.unsaved = a.freshState(first), true
		a.mu.Unlock()
	}
	if !a.fresh {
		for _, s := range a.opt.Stores {
			if _, ok := a.st.Cursors[s.Store.String()]; !ok && a.st.Sealed.Index >= first && a.st.SealedItem != "" {
				a.log.Warn("store is new to this agent: it gets segments from now on, not the history shipped before; "+
					"backfill it with 'walship copy --from OTHER --to "+s.Name+"'", "store", s.Name)
			}
		}
	}
	items, err := a.spool.items()
	if err != nil {
		return err
	}
	variants, err := a.spool.cleanVariants(a.sets, items, a.log)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.items = items
	for _, it := range items {
		ii := a.spool.info(it)
		ii.variants = variants[it]
		a.info[it] = ii
	}
	sealedItem := a.st.SealedItem
	a.mu.Unlock()
	if n := len(items); n > 0 && items[n-1] > sealedItem {
		if err := a.adoptSpooled(items[n-1]); err != nil {
			return err
		}
	}
	a.gcSpool()
	a.gapSnapshotDue.Store(a.st.BaseDue)
	return nil
}

// freshState is the state of an agent that never ran on this state dir:
// timeline 1 starting at the source's first entry.
func (a *Agent) freshState(first uint64) *state {
	return &state{
		Version: stateVersion,
		Source:  a.opt.WALDir,
		Timelines: []segments.Timeline{{ID: 1, StartIndex: first, Time: time.Now().UTC(),
			Reason: fmt.Sprintf("walship started on %s at index %d", a.opt.WALDir, first)}},
		Sealed:  Position{Index: first - 1},
		Cursors: map[string]string{},
		Shipped: map[string]Position{},
		Gaps:    map[string][]Gap{},
		Gapped:  map[string]bool{},
	}
}

// startSealing does, after recover, what must be durable before anything
// is sealed: the spool dir; a fresh state's state.json (its timeline 1
// starts where the source starts now: nothing was read before); the
// chunk secret, before the first base snapshot; a spool dir per recipient
// set; then resume (sealed.crc fitted, the source compared with the sealed
// history, a new timeline saved if it was rewritten). A failure for space
// leaves nothing half-done that a second call would not redo; Run and
// awaitStart call it until it succeeds (fullstart.go).
func (a *Agent) startSealing(ctx context.Context) error {
	if err := a.spool.ensureDir(); err != nil {
		return err
	}
	if a.unsaved {
		first, last, err := a.tail.Bounds()
		if err != nil {
			return fmt.Errorf("read source %s: %w", a.opt.WALDir, err)
		}
		a.mu.Lock()
		a.st = a.freshState(first)
		// Not saveState: while this fails no state.json is due (nothing is
		// sealed), so the seal fault reports it, not a pending save.
		err = a.st.save(a.opt.StateDir)
		if err == nil {
			a.saved, a.unsaved = savedOf(a.st), false
		}
		a.mu.Unlock()
		if err != nil {
			return fmt.Errorf("save state in %s: %w", a.opt.StateDir, err)
		}
		a.log.Info("starting timeline 1", "source", a.opt.WALDir, "first_index", first, "last_index", last)
	}
	if len(a.sets) > 0 && a.chunkSecret == nil {
		s, err := loadChunkSecret(a.opt.StateDir, a.log)
		if err != nil {
			return err
		}
		a.chunkSecret = s
	}
	if err := a.spool.makeVariantDirs(a.sets); err != nil {
		return err
	}
	return a.resume(ctx, false)
}

// resume positions the tailer after the last sealed entry: sealed.crc is
// fitted to that entry, and the source is compared with the sealed history
// (a rewrite, or a TruncateFront past the position, starts a new timeline
// first). startSealing ends with it; the sealer calls it again when it starts
// over after the state dir was full, with what it committed already in
// memory, as recover would have adopted it from the spool (paused: the
// reasons of timelines it starts say so).
func (a *Agent) resume(ctx context.Context, paused bool) error {
	why, while := "found at start", "while walship was stopped"
	if paused {
		why, while = "found when sealing resumed after the state dir was full", "while sealing was paused (state dir full)"
	}
	first, _, err := a.tail.Bounds()
	if err != nil {
		return fmt.Errorf("read source %s: %w", a.opt.WALDir, err)
	}
	a.mu.Lock()
	sealed := a.st.Sealed.Index
	claimed := a.st.lastClaimed()
	a.mu.Unlock()
	if a.crc == nil {
		a.crc, err = openCRCLog(a.opt.StateDir, sealed)
	} else {
		err = a.crc.fit(sealed) // a write the sealer could not finish may have left it off
	}
	if err != nil {
		return err
	}
	switch {
	case claimed >= first:
		// Every entry the history shares with the source is compared, the
		// current timeline's fork point included: the log may have been
		// rewritten any number of times while the agent was down.
		return a.checkFork(ctx, first, why)
	case claimed > 0:
		// The source holds none of the entries the history claims: a
		// TruncateFront while walship was stopped, perhaps after a
		// rewrite that nothing can show any more. Claim none of them.
		return a.startUnknownForkTimeline(fmt.Sprintf("TruncateFront %s: the source starts at %d, after entry %d, "+
			"the last walship sealed, so it cannot show whether entries up to %d were rewritten first; none of them is claimed", while, first, claimed, claimed))
	case sealed+1 < first:
		return a.startUnknownForkTimeline(fmt.Sprintf("TruncateFront %s: source entries %d..%d were removed before walship read them", while, sealed+1, first-1))
	default:
		return a.tail.Seek(sealed + 1)
	}
}

// adoptSpooled takes a segment that reached the spool after the last state
// save (a crash between the two) as the newest sealed one.
func (a *Agent) adoptSpooled(item string) error {
	f, err := os.Open(a.spool.path(item))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r, err := segments.NewReader(f)
	if err != nil {
		return fmt.Errorf("spool segment %s: %w", item, err)
	}
	defer r.Close()
	var last segments.Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("spool segment %s: %w", item, err)
		}
		last = e
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.Sealed = Position{Index: last.Index, CRC: segments.CRC32C(last.Data), HasCRC: true}
	a.st.SealedItem = item
	return a.saveStateOrDefer() // unsaved, it is adopted again at the next start
}

// errUsedStore: a fresh agent found another backup in a store's prefix;
// its timeline numbers would collide. Fatal: the operator must choose.
var errUsedStore = errors.New("store already holds a walship backup")

// checkUnused stops a fresh agent from writing into a prefix that already
// holds a backup. It runs in the store's own shipper, before its first
// upload, bounded by the store's deadlines.
func (s *shipper) checkUnused(ctx context.Context) error {
	if !s.a.fresh || s.unusedChecked {
		return nil
	}
	found := ""
	err := s.store.Store.List(ctx, segments.TimelinesPrefix, "", func(oi backends.ObjectInfo) error {
		found = oi.Key
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("check store %s for an existing backup: %w", s.store.Name, err)
	}
	if found != "" {
		return fmt.Errorf("store %s: %w (%s) but state dir %s is new: "+
			"use a fresh store prefix, or run with the state dir that wrote it", s.store.Name, errUsedStore, found, s.a.opt.StateDir)
	}
	s.unusedChecked = true
	return nil
}

var errStop = errors.New("stop listing")

// saveState persists a.st; the caller holds a.mu or runs before the
// goroutines start. When the state dir is full (isDiskFull) the state stays
// in memory, ahead of the file: the save is reported pending and retried
// (runStateSaver), and any later save catches up. The error is returned all
// the same, for callers whose next step needs the state durable (a new
// timeline); the others call saveStateOrDefer.
func (a *Agent) saveState() error {
	if err := a.st.save(a.opt.StateDir); err != nil {
		err = fmt.Errorf("save state in %s: %w", a.opt.StateDir, err)
		if isDiskFull(err) {
			a.setStateErr(err)
		}
		return err
	}
	a.saved = savedOf(a.st)
	if a.stateErr.active() {
		a.setStateErr(nil)
	}
	return nil
}

// saveStateOrDefer is saveState for a change that may wait in memory while
// the state dir is full: it returns only other failures.
func (a *Agent) saveStateOrDefer() error {
	if err := a.saveState(); err != nil && !isDiskFull(err) {
		return err
	}
	return nil
}
