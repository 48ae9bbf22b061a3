package faultcheck

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// run is the state of one run in progress.
type run struct {
	c       *Checker
	p       *Plan
	res     *RunResult
	dir     string
	src     *Source
	agent   *AgentProc
	tmpfs   *Tmpfs
	proxies map[string]string // target -> proxy name
	toxic   map[string]bool   // target -> toxic on
	minio   string            // up | stopped | killed
	gcs     string            // up | stopped
	filled  bool
	stale   *staleness
	start   time.Time
	stores  []StoreURL
	prefix  string // of the remote stores' keys
	bucket  string // of the GCS store
	dataDir string // source.data (static files) when the plan takes bases

	tailMu sync.Mutex
	tailed []tailSample // the agent's /status tailed index over time
}

type tailSample struct {
	ns     int64
	tailed uint64
}

// seenMargin is how long a running agent may take to read a new entry.
const seenMargin = 500 * time.Millisecond

func (r *run) noteTailed(st agentStatus) {
	r.tailMu.Lock()
	r.tailed = append(r.tailed, tailSample{time.Now().UnixNano(), st.Tailed})
	r.tailMu.Unlock()
}

// seen says whether the agent read version v of entry i: a /status sample
// at least seenMargin after v was written, while v was still in the
// source, shows the agent read past i.
func (r *run) seen(samples []tailSample) func(uint64, *Version) bool {
	return func(i uint64, v *Version) bool {
		for _, s := range samples {
			if s.ns >= v.ns+int64(seenMargin) && (v.Gone == 0 || s.ns < v.Gone) && s.tailed >= i {
				return true
			}
		}
		return false
	}
}

// Run executes one plan and judges it.
func (c *Checker) Run(ctx context.Context, p *Plan) *RunResult {
	res := &RunResult{Plan: p, Faults: map[string]int{}, Toxics: map[string]int{}, DeadlineCuts: map[string]int{}, Trunc: map[string]int{}, Verify: map[string]string{}}
	res.Bound = p.SealInterval.Seconds() + 3
	r := &run{c: c, p: p, res: res, proxies: map[string]string{}, toxic: map[string]bool{}, minio: "up", gcs: "up",
		stale: newStaleness(res.Bound)}
	r.dir = filepath.Join(c.opt.Workdir, fmt.Sprintf("seed%d-run%03d-%s", p.Seed, p.Run, randHex(2)))
	start := time.Now()
	err := r.do(ctx)
	res.Elapsed = time.Since(start)
	if err != nil {
		res.Failures = append(res.Failures, "run: "+err.Error())
	}
	res.judge()
	if res.Failed() {
		res.LogDir = r.dir
	} else {
		os.RemoveAll(r.dir)
	}
	return res
}

func (r *run) do(ctx context.Context) (err error) {
	c, p := r.c, r.p
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	defer r.cleanup()
	walDir := filepath.Join(r.dir, "wal")
	stateDir := filepath.Join(r.dir, "state")
	if p.Tmpfs {
		t, err := MountTmpfs(stateDir, 16<<20)
		switch {
		case err == nil:
			r.tmpfs = t
		case c.opt.CI:
			return fmt.Errorf("tmpfs for the ENOSPC fault: %w (CI=true forbids skipping it)", err)
		default:
			c.logf("tmpfs: %v: ENOSPC faults of seed %d run %d are skipped (state dir on disk)", err, p.Seed, p.Run)
			r.res.TmpfsSkipped = true
		}
	}
	if r.src, err = OpenSource(walDir, p); err != nil {
		return err
	}
	// Proxies: one per server per run.
	mu, _ := url.Parse(c.env.AzureEndpoint)
	ups := map[string]string{TargetMinio: c.minio.Endpoint(), TargetAzure: mu.Host, TargetGCS: c.gcs.Endpoint()}
	listen := map[string]string{}
	for _, t := range remoteTargets {
		name := fmt.Sprintf("faultcheck-%s-%d-%d-%s", c.nonce, p.Seed, p.Run, t)
		l, err := c.tox.CreateProxy(ctx, name, ups[t])
		if err != nil {
			return err
		}
		r.proxies[t] = name
		listen[t] = l
	}
	r.prefix = fmt.Sprintf("s%d-r%d-%s", p.Seed, p.Run, randHex(2))
	r.bucket = gcsBucket(c.nonce, r.prefix)
	if err := c.gc.Bucket(r.bucket).Create(ctx, "faultcheck", nil); err != nil {
		return fmt.Errorf("create bucket %s on fake-gcs-server: %w", r.bucket, err)
	}
	keys, err := makeKeys(filepath.Join(r.dir, "keys"), p)
	if err != nil {
		return err
	}
	r.stores = []StoreURL{
		{Name: StoreFile, URL: "file://" + filepath.Join(r.dir, "filestore"), Healthy: true, Key: keys[StoreFile]},
		{Name: TargetMinio, URL: fmt.Sprintf("minio://%s/%s/%s?tls=false", listen[TargetMinio], c.bucket, r.prefix), Key: keys[TargetMinio]},
		{Name: TargetAzure, URL: fmt.Sprintf("azblob://%s/%s?endpoint=http://%s%s", c.container, r.prefix, listen[TargetAzure], mu.Path), Key: keys[TargetAzure]},
		{Name: TargetGCS, URL: fmt.Sprintf("gs://%s/%s?endpoint=http://%s", r.bucket, r.prefix, listen[TargetGCS]), Key: keys[TargetGCS]},
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	cfg := filepath.Join(r.dir, "walship.yml")
	r.dataDir = filepath.Join(r.dir, "data")
	if p.Snapshots {
		if err := makeDataDir(r.dataDir, p); err != nil {
			return err
		}
	}
	if err := os.WriteFile(cfg, []byte(agentConfig(p, walDir, r.dataDir, stateDir, fmt.Sprintf("127.0.0.1:%d", ports[0]), r.stores)), 0o644); err != nil {
		return err
	}
	r.agent = &AgentProc{Bin: c.bin, Config: cfg, Log: filepath.Join(r.dir, "agent.log"), Env: c.childEnv, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), Pidfile: c.env.Pidfile}
	r.start = time.Now()
	pctx, stopPoll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.agent.poll(pctx, "file", r.stale, func() time.Time { return r.start }, r.noteTailed)
	}()
	defer func() { stopPoll(); wg.Wait() }()

	for _, s := range p.Steps {
		if err := r.sampleUntil(ctx, r.start.Add(s.At)); err != nil {
			return err
		}
		c.vlogf("seed %d run %d: %s", p.Seed, p.Run, s)
		if err := r.step(ctx, s); err != nil {
			return fmt.Errorf("step %s: %w", s, err)
		}
	}
	if err := r.final(ctx); err != nil {
		return err
	}
	stopPoll()
	wg.Wait()
	r.res.Staleness, r.res.StaleAt, r.res.StaleBy = r.stale.result()
	r.res.Samples = r.stale.samples
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// sampleUntil waits until t, sampling the file store's staleness by its
// listing every 100 ms (here, on the run's goroutine, which owns the
// source model).
func (r *run) sampleUntil(ctx context.Context, t time.Time) error {
	for {
		if r.agent.Running() {
			r.stale.sample("listing", r.listingLag(), fmt.Sprintf("+%.1fs", time.Since(r.start).Seconds()))
		}
		next := time.Now().Add(100 * time.Millisecond)
		if !next.Before(t) {
			return sleepUntil(ctx, t)
		}
		if err := sleepUntil(ctx, next); err != nil {
			return err
		}
	}
}

// listingLag is the age of the oldest source entry the file store's
// newest timeline does not hold (0 if it holds them all). Segment keys
// are segments/TTTTTTTT/FIRST-LAST-MAXTIME.wseg.
func (r *run) listingLag() float64 {
	dirs, _ := filepath.Glob(filepath.Join(r.dir, "filestore", "segments", "*"))
	var shipped uint64
	if len(dirs) > 0 {
		slices.Sort(dirs)
		names, _ := filepath.Glob(filepath.Join(dirs[len(dirs)-1], "*.wseg"))
		for _, n := range names {
			parts := strings.Split(strings.TrimSuffix(filepath.Base(n), ".wseg"), "-")
			if len(parts) == 3 {
				if last, err := strconv.ParseUint(parts[1], 10, 64); err == nil {
					shipped = max(shipped, last)
				}
			}
		}
	}
	lin := r.src.Lineage()
	i := max(shipped+1, lin.First)
	if i > lin.Last {
		return 0
	}
	ns, ok := lin.Time(i)
	if !ok {
		return 0
	}
	return time.Since(time.Unix(0, ns)).Seconds()
}

// step performs one planned action.
func (r *run) step(ctx context.Context, s Step) error {
	c, res := r.c, r.res
	switch s.Action {
	case Append:
		return r.src.Append(sizes(s.Seed, s.N, r.p.Stamped()))
	case AppendLarge:
		return r.src.Append([]int{s.Size})
	case TruncateFront:
		res.Trunc["front"]++
		return r.src.TruncateFront(s.Index)
	case TruncateBack:
		if err := r.src.TruncateBack(s.Index); err != nil {
			return err
		}
		if s.N == 0 {
			res.Trunc["back"]++
			return nil
		}
		res.Trunc["back+rewrite"]++
		return r.src.Append(sizes(s.Seed, s.N, r.p.Stamped()))
	case Idle:
		return nil // the next step's offset is the idle time
	case AgentStart:
		r.stale.agentStarted()
		return r.agent.Start()
	case AgentStop:
		if err := r.agent.Stop(30 * time.Second); err != nil {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("+%.1fs agent_stop: %v", time.Since(r.start).Seconds(), err))
		}
		return nil
	case AgentKill:
		res.Faults[KindAgentKill]++
		if r.agent.Running() {
			res.Kills++
		}
		r.agent.Kill()
		return nil
	case ToxicAdd:
		if err := c.tox.AddToxic(ctx, r.proxies[s.Target], "fault", s.Kind, s.Stream, s.Attrs); err != nil {
			return err
		}
		res.Faults[s.Kind]++
		res.Toxics[s.Target]++
		r.toxic[s.Target] = true
		r.stale.setFaulted(1)
		return nil
	case ToxicRemove:
		if !r.toxic[s.Target] {
			return nil
		}
		r.toxic[s.Target] = false
		r.stale.setFaulted(-1)
		return c.tox.RemoveToxic(ctx, r.proxies[s.Target], "fault")
	case MinioStop:
		return r.stopServer(c.minio, &r.minio, KindSigstop)
	case MinioCont:
		return r.contServer(c.minio, &r.minio)
	case GCSStop:
		return r.stopServer(c.gcs, &r.gcs, KindGCSStop)
	case GCSCont:
		return r.contServer(c.gcs, &r.gcs)
	case MinioKill:
		if err := c.minio.Kill(); err != nil {
			return err
		}
		res.Faults[KindMinioKill]++
		r.minio = "killed"
		r.stale.setFaulted(1)
		return nil
	case MinioRestart:
		if r.minio != "killed" {
			return nil
		}
		if err := c.minio.Start(ctx); err != nil {
			return err
		}
		r.minio = "up"
		r.stale.setFaulted(-1)
		return nil
	case Fill:
		if r.tmpfs == nil {
			return nil
		}
		if err := r.tmpfs.Fill(); err != nil {
			return err
		}
		res.Faults[KindENOSPC]++
		r.filled = true
		r.stale.setLocal(1)
		return nil
	case Unfill:
		if !r.filled {
			return nil
		}
		r.filled = false
		r.stale.setLocal(-1)
		return r.tmpfs.Unfill()
	}
	return fmt.Errorf("unknown action %q", s.Action)
}

// stopServer SIGSTOPs srv, whose state in this run is *state: a fault of
// kind.
func (r *run) stopServer(srv *Server, state *string, kind string) error {
	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	r.res.Faults[kind]++
	*state = "stopped"
	r.stale.setFaulted(1)
	return nil
}

// contServer resumes srv if stopServer stopped it.
func (r *run) contServer(srv *Server, state *string) error {
	if *state != "stopped" {
		return nil
	}
	*state = "up"
	r.stale.setFaulted(-1)
	return srv.Signal(syscall.SIGCONT)
}

// heal ends every fault still on.
func (r *run) heal(ctx context.Context) error {
	var errs []error
	for _, t := range remoteTargets {
		errs = append(errs, r.step(ctx, Step{Action: ToxicRemove, Target: t}))
	}
	errs = append(errs, r.step(ctx, Step{Action: MinioCont}), r.step(ctx, Step{Action: MinioRestart}), r.step(ctx, Step{Action: GCSCont}),
		r.step(ctx, Step{Action: Unfill}))
	return errors.Join(errs...)
}

// cleanup releases what the run made, whatever happened: the agent, the
// proxies, stopped or killed MinIO, stopped fake-gcs-server, the tmpfs,
// the source log.
func (r *run) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if r.agent != nil {
		r.agent.Close()
		if r.res.Starts == 0 {
			r.res.Starts = r.agent.Starts
		}
	}
	for _, name := range r.proxies {
		if err := r.c.tox.DeleteProxy(ctx, name); err != nil {
			r.c.logf("delete proxy %s: %v", name, err)
		}
	}
	if r.minio == "stopped" {
		r.c.minio.Signal(syscall.SIGCONT)
	}
	if r.gcs == "stopped" {
		r.c.gcs.Signal(syscall.SIGCONT)
	}
	if !r.c.minio.Running() {
		if err := r.c.minio.Start(ctx); err != nil {
			r.c.logf("restart MinIO: %v", err)
		}
	}
	if r.src != nil {
		r.src.Close()
	}
	if r.tmpfs != nil {
		if err := r.tmpfs.Unmount(); err != nil {
			r.c.logf("%v", err)
		}
	}
}

// makeDataDir writes the database's data dir that bases capture: a few
// files drawn from the plan's seed that never change, so a restored base
// must equal it byte for byte.
func makeDataDir(dir string, p *Plan) error {
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		return err
	}
	for k, name := range []string{"a.db", "b.db", "sub/c.db", "empty"} {
		size := []int{200 << 10, 3 << 10, 70 << 10, 0}[k]
		d := payload(p.Seed, p.Run, false, uint64(1000+k), meta{gen: 99, size: size})
		if err := os.WriteFile(filepath.Join(dir, name), d, 0o644); err != nil {
			return err
		}
	}
	return nil
}
