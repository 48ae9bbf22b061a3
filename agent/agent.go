package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// Store is a configured destination.
type Store struct {
	Name  string // for logs and status; defaults to the store's String()
	Store backends.Store
}

// Options configure an agent. Zero values take the defaults noted.
type Options struct {
	WALDir       string        // the database's tidwall/wal directory (read only)
	StateDir     string        // default: WALDir + ".walship" (a sibling, never inside WALDir)
	Tail         wal.Options   // format, timestamps, poll interval
	SealSize     int64         // seal when a segment's raw size reaches this; default 16 MiB
	SealInterval time.Duration // seal when a segment's first entry is this old; default 1s
	Codec        segments.Codec
	Stores       []Store
	DrainTimeout time.Duration // on shutdown, how long shippers may drain the spool; default 30s
	Logger       *slog.Logger
}

// DefaultStateDir is where an agent for walDir keeps its state by default.
func DefaultStateDir(walDir string) string {
	return filepath.Clean(walDir) + ".walship"
}

// Agent replicates one source log to its stores. Create with New, then Run.
type Agent struct {
	opt   Options
	log   *slog.Logger
	tail  *wal.Tailer
	spool *spool
	lock  *os.File

	mu    sync.Mutex
	st    *state
	fresh bool     // no state existed before this run
	items []string // sealed spool items, key order

	shippers   []*shipper
	sealerDone chan struct{}
}

// New checks the options, locks the state dir and opens the source. It
// fails with a clear error for a source that is not a tidwall/wal log or a
// state dir that cannot be written.
func New(opt Options) (*Agent, error) {
	if opt.WALDir == "" {
		return nil, errors.New("no WAL directory given")
	}
	if len(opt.Stores) == 0 {
		return nil, errors.New("no store given")
	}
	walDir, err := filepath.Abs(opt.WALDir)
	if err != nil {
		return nil, fmt.Errorf("WAL dir %s: %w", opt.WALDir, err)
	}
	opt.WALDir = walDir
	if opt.StateDir == "" {
		opt.StateDir = DefaultStateDir(walDir)
	}
	if opt.StateDir, err = filepath.Abs(opt.StateDir); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", opt.StateDir, err)
	}
	if rel, err := filepath.Rel(walDir, opt.StateDir); err == nil && (rel == "." || filepath.IsLocal(rel)) {
		return nil, fmt.Errorf("state dir %s is inside the WAL dir %s: walship never writes into the source; use --state elsewhere", opt.StateDir, walDir)
	}
	if opt.SealSize <= 0 {
		opt.SealSize = 16 << 20
	}
	if opt.SealInterval <= 0 {
		opt.SealInterval = time.Second
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Tail.Logger == nil {
		opt.Tail.Logger = opt.Logger
	}
	seen := map[string]bool{}
	for i := range opt.Stores {
		id := opt.Stores[i].Store.String()
		if seen[id] {
			return nil, fmt.Errorf("store %s is configured twice", id)
		}
		seen[id] = true
		if opt.Stores[i].Name == "" {
			opt.Stores[i].Name = id
		}
	}
	tail, err := wal.Open(walDir, opt.Tail)
	if err != nil {
		return nil, err
	}
	a := &Agent{opt: opt, log: opt.Logger, tail: tail, sealerDone: make(chan struct{})}
	if err := a.openState(); err != nil {
		tail.Close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) openState() error {
	dir := a.opt.StateDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state dir %s: %w (choose a writable --state)", dir, err)
	}
	probe := filepath.Join(dir, ".probe")
	if err := writeFileAtomic(probe, nil); err != nil {
		return fmt.Errorf("state dir %s is not writable: %w (choose a writable --state)", dir, err)
	}
	os.Remove(probe)
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	a.lock = lock
	st, ok, err := loadState(dir)
	if err != nil {
		return err
	}
	if ok && st.Source != a.opt.WALDir {
		return fmt.Errorf("state dir %s belongs to source %s, not %s; use another --state", dir, st.Source, a.opt.WALDir)
	}
	a.st, a.fresh = st, !ok
	sp, err := openSpool(filepath.Join(dir, "spool"))
	if err != nil {
		return err
	}
	a.spool = sp
	return nil
}

// Close releases the source, the lock and the stores' resources are left
// to their owner.
func (a *Agent) Close() error {
	err := a.tail.Close()
	if a.lock != nil {
		a.lock.Close()
	}
	return err
}

// Run replicates until ctx ends, then seals what it has read, lets the
// shippers drain the spool for up to DrainTimeout, and returns. It returns
// an error only for a failure it cannot retry (a corrupt source, a store
// holding a conflicting object, a state dir that stopped being writable).
func (a *Agent) Run(ctx context.Context) error {
	if err := a.recover(ctx); err != nil {
		return err
	}
	for _, s := range a.opt.Stores {
		a.shippers = append(a.shippers, newShipper(a, s))
	}
	g, gctx := errgroup.WithContext(context.Background())
	sealCtx, stopSeal := context.WithCancel(ctx)
	defer stopSeal()
	shipCtx, stopShip := context.WithCancel(gctx)
	defer stopShip()
	go func() { // a failing shipper stops the sealer too
		<-gctx.Done()
		stopSeal()
	}()
	g.Go(func() error {
		defer close(a.sealerDone)
		err := a.runSealer(sealCtx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		// Drain: shippers finish what is sealed, bounded in time.
		time.AfterFunc(a.opt.DrainTimeout, stopShip)
		return err
	})
	for _, sh := range a.shippers {
		g.Go(func() error { return sh.run(shipCtx) })
	}
	err := g.Wait()
	a.mu.Lock()
	left := len(a.items)
	a.mu.Unlock()
	if left > 0 {
		a.log.Warn("stopping with sealed segments not yet in every store; they ship on the next start", "segments", left)
	}
	return err
}

// Status is a snapshot of the agent's progress.
type Status struct {
	Timeline uint32
	Sealed   uint64 // last entry durable in the spool
	Spooled  int    // sealed segments not yet in every store
	Stores   []StoreStatus
}

// StoreStatus is one store's progress.
type StoreStatus struct {
	Name     string
	Timeline uint32 // timeline of the newest segment shipped
	Shipped  uint64 // last entry of the newest segment shipped and verified
}

// Status reports progress; safe to call while Run runs.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Status{Spooled: len(a.items)}
	if a.st != nil {
		s.Timeline = a.st.current().ID
		s.Sealed = a.st.Sealed.Index
	}
	for _, st := range a.opt.Stores {
		ss := StoreStatus{Name: st.Name}
		if a.st != nil {
			if item, ok := a.st.Cursors[st.Store.String()]; ok {
				if n, err := parseItem(item); err == nil {
					ss.Timeline, ss.Shipped = n.Timeline, n.Last
				}
			}
		}
		s.Stores = append(s.Stores, ss)
	}
	return s
}
