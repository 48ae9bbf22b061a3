package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/throttle"
	"github.com/walship/walship/wal"
)

// Store is a configured destination.
type Store struct {
	Name  string // for logs and status; defaults to the store's String()
	Store backends.Store
	// Limiter, if the store is wrapped in a throttle decorator, is its own
	// limiter, exported as walship_throttle_wait_seconds_total.
	Limiter *throttle.Limiter
	// Recipients, when given (at most segments.MaxRecipients), make the
	// store get its segments encrypted to them (format v2); without, it
	// gets plain v1 segments. The agent holds no identity, so it does not
	// compact an encrypted store.
	Recipients []*crypt.Recipient
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

	// SpoolMaxBytes bounds the spool. When a store is down so long that the
	// bound would be exceeded, its oldest segments are dropped for it (a
	// recorded gap) instead of blocking the source; default 4 GiB.
	SpoolMaxBytes int64
	// RetryAttempts is how many times one upload is tried before the store
	// is marked degraded and reconciled; default 5.
	RetryAttempts int
	// UploadsInFlight is how many segments one store uploads at once while
	// it catches up a backlog (its cursor still advances in order).
	// Default 4.
	UploadsInFlight int
	// RetryBackoff is the first wait between attempts, doubled each time
	// (with jitter) up to RetryMaxBackoff; defaults 200ms and 10s.
	RetryBackoff, RetryMaxBackoff time.Duration
	// ReconcileMaxBackoff caps the wait between reconciliation runs of a
	// degraded store; default 5 minutes.
	ReconcileMaxBackoff time.Duration
	// DiskFullBackoff is how often a full state dir is probed for space
	// (a 64 KiB write) and the first wait before saving state.json again;
	// the wait doubles up to DiskFullMaxBackoff after each resumption of
	// sealing or save that fails again; defaults 1s and 30s.
	DiskFullBackoff, DiskFullMaxBackoff time.Duration
	// MaxLag is the lag beyond which /healthz fails; default 5 minutes.
	MaxLag time.Duration
	// MetricsAddr, if set, serves /metrics, /healthz and /status there.
	MetricsAddr string
	// Admin, if set, adds handlers (runtime limit changes) to that server.
	Admin func(*http.ServeMux)
	// GlobalLimiter is the limiter shared by every store, for metrics.
	GlobalLimiter *throttle.Limiter
	// Snapshot configures base snapshots (none when zero).
	Snapshot SnapshotOptions
	// Retention makes the agent prune its stores on a schedule.
	Retention RetentionOptions
	// Compaction makes the agent merge small segments in its stores.
	Compaction CompactionOptions
	// Lease configures the per-store leases (lease.json) that keep a second
	// agent off a prefix this one ships to.
	Lease LeaseOptions
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
	crc   *crcLog // CRCs of the sealed history, for the fork check
	lock  *os.File

	mu        sync.Mutex
	st        *state
	fresh     bool     // no state existed before this run
	items     []string // sealed spool items, key order
	info      map[string]itemInfo
	openFirst time.Time         // when the open segment's first entry was read
	inflight  []time.Time       // the same for each segment sealed and not yet committed, oldest first
	tailed    atomic.Uint64     // last entry read from the source
	saved     savedState        // what state.json holds (it may lag a.st while the state dir is full)
	verified  map[string]string // per store: the newest item this run uploaded and verified there
	// unsealedSince is when the oldest entry read and then discarded
	// unsealed (sealing failed) was read; the next segment takes it as its
	// own, so lag counts from it through a pause.
	unsealedSince time.Time

	// Faults the agent reports and retries (condition.go, diskfull.go).
	sourceErr condition     // the source cannot be read
	sealErr   condition     // sealing is paused: the state dir is full
	stateErr  condition     // state.json lags a.st: the state dir is full
	saveDue   chan struct{} // wakes runStateSaver
	// startFull is the first write of the start that the state dir refused
	// for space and that may wait (fullstart.go): the agent then starts
	// shipping with sealing paused. unsaved: a fresh state not yet written
	// to state.json (nothing is sealed before it is). started is closed
	// once sealing has started (startSealing succeeded).
	startFull error
	unsaved   bool
	started   chan struct{}

	shippers []*shipper
	sets     []*recipientSet // distinct recipient sets of the encrypted stores
	byStore  []*recipientSet // each store's set (nil: plain), as Stores
	// chunkSecret names the chunks of base snapshots in encrypted stores
	// (STATE/chunk-secret); nil without encrypted stores.
	chunkSecret *crypt.ChunkSecret
	variantMu   sync.Mutex      // one variant made again at a time (uploadPath)
	compaction  []*compactState // per store, as shippers
	leases      *leaseSet       // one per store; ready says whether a store may be written
	sealerDone  chan struct{}
	spoolFreed  chan struct{} // signalled when spool items are removed

	// adminSum is the SHA-256 of the token the mutating endpoints need
	// (SetAdminToken); nil: they are off.
	adminSum atomic.Pointer[[32]byte]

	snapReqs         chan snapReq
	walSinceSnapshot atomic.Int64 // raw WAL bytes sealed since the last snapshot
	gapSnapshotDue   atomic.Bool  // a new timeline after a gap wants a base
	metrics          *metrics
}

// itemInfo is what the agent knows of a spool item without reading it.
type itemInfo struct {
	size      int64            // of the plain segment
	variants  map[string]int64 // encrypted copies in the spool: set id -> size
	last      uint64
	firstRead time.Time // when its first entry was read from the source
}

// New checks the options, locks the state dir and opens the source. It
// fails with a clear error for a source that is not a tidwall/wal log or a
// state dir that cannot be written. A full state dir fails it only when
// the dir or its lock file does not exist yet (openState); otherwise the
// agent starts with sealing paused (fullstart.go).
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
	if opt.SpoolMaxBytes <= 0 {
		opt.SpoolMaxBytes = 4 << 30
	}
	if opt.RetryAttempts <= 0 {
		opt.RetryAttempts = 5
	}
	if opt.UploadsInFlight <= 0 {
		opt.UploadsInFlight = 4
	}
	if opt.RetryBackoff <= 0 {
		opt.RetryBackoff = 200 * time.Millisecond
	}
	if opt.RetryMaxBackoff <= 0 {
		opt.RetryMaxBackoff = 10 * time.Second
	}
	if opt.ReconcileMaxBackoff <= 0 {
		opt.ReconcileMaxBackoff = 5 * time.Minute
	}
	if opt.DiskFullBackoff <= 0 {
		opt.DiskFullBackoff = time.Second
	}
	if opt.DiskFullMaxBackoff <= 0 {
		opt.DiskFullMaxBackoff = 30 * time.Second
	}
	opt.DiskFullMaxBackoff = max(opt.DiskFullMaxBackoff, opt.DiskFullBackoff)
	if opt.MaxLag <= 0 {
		opt.MaxLag = 5 * time.Minute
	}
	if opt.Snapshot.RetryAfter <= 0 {
		opt.Snapshot.RetryAfter = time.Minute
	}
	if opt.Tail.Logger == nil {
		opt.Tail.Logger = opt.Logger
	}
	opt.Tail.Borrow = true // the sealer copies each entry into the spill before the next
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
		if n := len(crypt.Fingerprints(opt.Stores[i].Recipients)); n > segments.MaxRecipients {
			return nil, fmt.Errorf("store %s: encrypted to %d recipients, at most %d", opt.Stores[i].Name, n, segments.MaxRecipients)
		}
	}
	tail, err := wal.Open(walDir, opt.Tail)
	if err != nil {
		return nil, err
	}
	a := &Agent{opt: opt, log: opt.Logger, tail: tail, sealerDone: make(chan struct{}), spoolFreed: make(chan struct{}, 1), snapReqs: make(chan snapReq), info: map[string]itemInfo{},
		verified: map[string]string{}, saveDue: make(chan struct{}, 1), started: make(chan struct{})}
	a.sets, a.byStore = recipientSets(opt.Stores)
	for i, s := range opt.Stores {
		a.shippers = append(a.shippers, newShipper(a, s))
		a.shippers[i].set = a.byStore[i]
		a.compaction = append(a.compaction, &compactState{settled: map[uint32]uint64{}, dirty: map[uint32]bool{}})
		a.shippers[len(a.shippers)-1].compaction = a.compaction[len(a.compaction)-1]
	}
	a.metrics = newMetrics(a)
	if err := a.openState(); err != nil {
		tail.Close()
		return nil, err
	}
	return a, nil
}

// openState creates, probes and locks the state dir, loads state.json and
// the chunk secret, and opens the spool. A write here that the state dir
// refuses for space (isDiskFull) waits when shipping the spool does not
// need it (a.startFull, fullstart.go); only the state dir itself and its
// lock file must be made before anything ships (lockDir says why).
func (a *Agent) openState() error {
	dir := a.opt.StateDir
	if err := os.MkdirAll(dir, stateDirPerm); err != nil {
		if isDiskFull(err) { // no state dir: no spool to ship, and no place for the lock
			return stateDirFullError(dir, err, "cannot create it")
		}
		return fmt.Errorf("create state dir %s: %w (choose a writable --state)", dir, err)
	}
	probe := filepath.Join(dir, ".probe")
	if err := writeFileAtomic(probe, nil); err != nil {
		// A full filesystem still checked permissions and a read-only
		// mount first: the dir is writable, once it has space.
		if !isDiskFull(err) {
			return fmt.Errorf("state dir %s is not writable: %w (choose a writable --state)", dir, err)
		}
		a.deferStart(err, "probe")
	}
	os.Remove(probe)
	lock, err := lockDir(dir, a.log)
	if err != nil {
		return err
	}
	a.lock = lock
	st, ok, err := loadState(dir, a.log)
	if err != nil {
		return err
	}
	if ok && st.Source != a.opt.WALDir {
		return fmt.Errorf("state dir %s belongs to source %s, not %s; use another --state", dir, st.Source, a.opt.WALDir)
	}
	a.st, a.fresh = st, !ok
	if ok {
		a.saved = savedOf(st)
	}
	if len(a.sets) > 0 {
		// Only base snapshots use the secret, and they wait for sealing
		// to start: a first secret the state dir has no room for is
		// created then (startSealing).
		a.chunkSecret, err = loadChunkSecret(dir, a.log)
		if isDiskFull(err) {
			a.deferStart(err, "chunk secret")
		} else if err != nil {
			return err
		}
	}
	sp, err := openSpool(filepath.Join(dir, "spool"), a.log)
	if isDiskFull(err) { // no spool dir yet: it holds nothing to ship; made before sealing
		a.deferStart(err, "spool")
	} else if err != nil {
		return err
	}
	a.spool = sp
	return nil
}

// Close releases the source, the lock and the stores' resources are left
// to their owner.
func (a *Agent) Close() error {
	err := a.tail.Close()
	a.crc.close()
	if a.lock != nil {
		a.lock.Close()
	}
	return err
}

// Run replicates until ctx ends, then seals what it has read, lets the
// shippers drain the spool for up to DrainTimeout, and returns. It returns
// an error only for a failure it cannot retry (a store
// holding a conflicting object, a state dir that stopped being writable);
// a full state dir, at start too, is reported and retried (diskfull.go,
// fullstart.go).
func (a *Agent) Run(ctx context.Context) error {
	// No store is written before its lease is held (each store on its own:
	// one that does not answer is acquired in the background).
	leases, err := a.acquireLeases(ctx, a.opt.Lease)
	if err != nil {
		return err
	}
	a.leases = leases
	leaseCtx, stopLeases := context.WithCancel(context.WithoutCancel(ctx))
	leaseDone := make(chan struct{})
	go func() { defer close(leaseDone); leases.run(leaseCtx) }()
	defer func() { stopLeases(); <-leaseDone }() // renewed through the drain, released at the end
	// Shipping the spool needs no write that must succeed (recover); what
	// sealing needs first may wait for space, and the agent then starts
	// with sealing paused and ships what the spool holds (fullstart.go).
	if a.startFull != nil {
		a.setSealErr(a.startFull)
	}
	if err := a.recover(); err != nil {
		return err
	}
	pending, err := a.tryStartSealing(ctx)
	if err != nil {
		return err
	}
	var ln net.Listener
	if a.opt.MetricsAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", a.opt.MetricsAddr); err != nil {
			return fmt.Errorf("metrics endpoint %s: %w", a.opt.MetricsAddr, err)
		}
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
		err := a.awaitStart(sealCtx, pending)
		if err == nil {
			err = a.runSealer(sealCtx)
		}
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
	g.Go(func() error { return a.runStateSaver(sealCtx) })
	snapCtx, stopSnaps := context.WithCancel(ctx)
	snapDone := make(chan struct{}, 3)
	go func() { // a snapshot needs the fork check and chunk secret of startSealing
		defer func() { snapDone <- struct{}{} }()
		if a.awaitStarted(snapCtx, true) {
			a.runSnapshots(snapCtx)
		}
	}()
	go func() { defer func() { snapDone <- struct{}{} }(); a.runRetention(snapCtx) }()
	go func() { // its scratch dir in the state dir waits for space too
		defer func() { snapDone <- struct{}{} }()
		if a.awaitStarted(snapCtx, false) {
			a.runCompaction(snapCtx)
		}
	}()
	defer func() { stopSnaps(); <-snapDone; <-snapDone; <-snapDone }()
	if ln != nil {
		httpCtx, stopHTTP := context.WithCancel(context.Background())
		defer stopHTTP()
		httpDone := make(chan error, 1)
		go func() { httpDone <- a.serve(httpCtx, ln) }()
		defer func() { stopHTTP(); <-httpDone }()
	}
	err = g.Wait()
	a.mu.Lock()
	left := len(a.items)
	if a.stateErr.active() {
		if serr := a.saveState(); serr != nil {
			a.log.Warn("stopping with state.json behind; the next start adopts what the spool holds and finds segments already in the stores there", "err", serr)
		}
	}
	a.mu.Unlock()
	if left > 0 {
		a.log.Warn("stopping with sealed segments not yet in every store; they ship on the next start", "segments", left)
	}
	return err
}
