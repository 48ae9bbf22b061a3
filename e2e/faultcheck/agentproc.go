package faultcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// agentStatus is the part of the agent's /status JSON the checker reads
// (agent.Status; declared here so the checker builds without the agent
// package and trusts only the wire format).
type agentStatus struct {
	Timeline uint32 `json:"timeline"`
	Tailed   uint64 `json:"tailed"`
	Sealed   uint64 `json:"sealed"`
	Stores   []struct {
		Name       string     `json:"name"`
		Timeline   uint32     `json:"timeline"`
		Shipped    uint64     `json:"shipped"`
		LagSeconds float64    `json:"lag_seconds"`
		Degraded   bool       `json:"degraded"`
		Gaps       []storeGap `json:"gaps,omitempty"`
	} `json:"stores"`
}

// storeGap is a run of segments the agent dropped for a degraded store at
// the spool bound, as /status reports it.
type storeGap struct {
	Timeline uint32 `json:"timeline"`
	From     uint64 `json:"from"`
	To       uint64 `json:"to"`
}

// StoreURL is one store of a run.
type StoreURL struct {
	Name, URL string
	Healthy   bool      // never faulted
	Key       *storeKey // encrypted store: its recipient and identity file (nil: plain)
}

// agentConfig is the YAML config of a run's agent.
func agentConfig(p *Plan, walDir, dataDir, stateDir, metricsAddr string, stores []StoreURL) string {
	var b strings.Builder
	if p.Snapshots {
		fmt.Fprintf(&b, "source: {wal: %q, format: %s, timestamp: %q, data: %q}\n", walDir, p.Format, p.Timestamp, dataDir)
		b.WriteString("snapshot: {interval: 2s}\nretention: {snapshots: 2, interval: 3s}\n")
	} else {
		fmt.Fprintf(&b, "source: {wal: %q, format: %s, timestamp: %q}\n", walDir, p.Format, p.Timestamp)
	}
	if p.Compaction {
		id := ""
		for _, s := range stores {
			if s.Key != nil && p.CompactEncrypted() && id == "" {
				id = fmt.Sprintf(", identity_file: %q", s.Key.File)
			}
		}
		fmt.Fprintf(&b, "compaction: {levels: [1s, 4s], delay: 300ms, grace: 2s, interval: 500ms%s}\n", id)
	} else {
		b.WriteString("compaction: {enabled: false}\n")
	}
	fmt.Fprintf(&b, "state: %q\n", stateDir)
	fmt.Fprintf(&b, "seal: {size: %d, interval: %s}\n", p.SealSize, p.SealInterval)
	b.WriteString("compression: zstd\nstores:\n")
	for _, s := range stores {
		if s.Key != nil {
			fmt.Fprintf(&b, "  - {name: %s, url: %q, encryption: {recipients: [%s]}}\n", s.Name, s.URL, s.Key.Recipient.Text())
		} else {
			fmt.Fprintf(&b, "  - {name: %s, url: %q}\n", s.Name, s.URL)
		}
	}
	b.WriteString("retry: {attempts: 3, max_backoff: 500ms, reconcile_max_backoff: 2s}\n")
	if p.CallTimeout > 0 {
		fmt.Fprintf(&b, "timeouts: {call: %s}\n", p.CallTimeout)
	}
	if p.SpoolMax > 0 {
		fmt.Fprintf(&b, "spool: {max_bytes: %d}\n", p.SpoolMax)
	}
	fmt.Fprintf(&b, "metrics: {addr: %q, max_lag: 1m}\n", metricsAddr)
	return b.String()
}

// AgentProc is one `walship replicate --config FILE` process at a time,
// restarted as the plan says; stderr of every process goes to one log file.
type AgentProc struct {
	Bin, Config, Log string
	Env              []string
	Addr             string // metrics.addr
	Pidfile          string // WALSHIP_TEST_PIDFILE: testenv.sh kills every pid there on exit

	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	started time.Time
	logf    *os.File
	Starts  int
	Exits   []string // unplanned exits (the agent quit by itself)
}

// Running says whether the process is alive.
func (a *AgentProc) Running() bool {
	if a.cmd == nil {
		return false
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// Start runs a new agent process (a no-op while one runs).
func (a *AgentProc) Start() error {
	a.reap()
	if a.Running() {
		return nil
	}
	if a.logf == nil {
		f, err := os.OpenFile(a.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		a.logf = f
	}
	fmt.Fprintf(a.logf, "=== faultcheck: agent start %d at %s\n", a.Starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(a.Bin, "replicate", "--config", a.Config, "--drain-timeout", "3s")
	cmd.Env = a.Env
	cmd.Stdout, cmd.Stderr = a.logf, a.logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the checker
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	recordPid(a.Pidfile, cmd.Process.Pid)
	a.Starts++
	done := make(chan struct{})
	a.cmd, a.done, a.started, a.exitErr = cmd, done, time.Now(), nil
	go func() { a.exitErr = cmd.Wait(); close(done) }()
	return nil
}

// reap notes an exit the plan did not ask for.
func (a *AgentProc) reap() {
	if a.cmd != nil && !a.Running() {
		a.Exits = append(a.Exits, fmt.Sprintf("agent exited by itself after %v: %v; its last log line: %s",
			time.Since(a.started).Round(time.Millisecond), a.exitErr, lastLine(a.Log)))
		a.cmd = nil
	}
}

// lastLine returns the last non-empty line of the file at path (at most its
// last 4 KiB), to say why a process quit.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "(" + err.Error() + ")"
	}
	off := max(0, fi.Size()-4096)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Stop sends SIGTERM and waits (the agent drains for up to 3 s) for the
// exit; it returns the exit error.
func (a *AgentProc) Stop(timeout time.Duration) error {
	a.reap()
	if a.cmd == nil {
		return nil
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		err := a.exitErr
		a.cmd = nil
		return err
	case <-time.After(timeout):
		a.cmd.Process.Kill()
		<-a.done
		a.cmd = nil
		return fmt.Errorf("agent did not exit within %v of SIGTERM (killed)", timeout)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (a *AgentProc) Kill() {
	a.reap()
	if a.cmd == nil {
		return
	}
	a.cmd.Process.Kill()
	<-a.done
	a.cmd = nil
}

// Close kills any process and closes the log.
func (a *AgentProc) Close() {
	if a.cmd != nil {
		a.cmd.Process.Kill()
		<-a.done
		a.cmd = nil
	}
	if a.logf != nil {
		a.logf.Close()
		a.logf = nil
	}
}

var statusClient = &http.Client{Timeout: 2 * time.Second}

// Status reads the agent's /status.
func (a *AgentProc) Status(ctx context.Context) (agentStatus, error) {
	var st agentStatus
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+a.Addr+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("/status: HTTP %d: %s", resp.StatusCode, b)
	}
	return st, json.Unmarshal(b, &st)
}

// staleness records the healthy store's worst lag while another store is
// faulted (and the state dir is not full, nor just freed), measured two ways: "status" is
// lag_seconds of the agent's /status, "listing" is the age of the oldest
// source entry that the file store's segment keys do not hold yet (the
// agent's word not needed). A sample counts once the agent process has
// shown the healthy store caught up since it started (the oldest entry it
// lacks was written after the start), or once it has run for the bound
// plus 2 s: a backlog left by an agent that was down is not blamed on a
// fault, but a startup that waits on a faulted store is.
type staleness struct {
	mu        sync.Mutex
	bound     float64
	faulted   int // remote faults active now
	localBusy int // local faults (ENOSPC) active: the healthy store may stall too
	startedAt time.Time
	caughtUp  map[string]bool
	worst     map[string]float64
	worstAt   map[string]string
	samples   int
}

func newStaleness(bound float64) *staleness {
	return &staleness{bound: bound, caughtUp: map[string]bool{}, worst: map[string]float64{}, worstAt: map[string]string{}}
}

func (s *staleness) setFaulted(delta int) {
	s.mu.Lock()
	s.faulted += delta
	s.mu.Unlock()
}

// setLocal counts a local fault (a full state dir) starting or ending.
// When the last one ends, the sealer resumes with a backlog the fault left
// in the source: like a start's, it is not blamed on a remote fault (the
// grace and catch-up rules of agentStarted apply again).
func (s *staleness) setLocal(delta int) {
	s.mu.Lock()
	s.localBusy += delta
	if delta < 0 && s.localBusy == 0 {
		clear(s.caughtUp)
		s.startedAt = time.Now()
	}
	s.mu.Unlock()
}

func (s *staleness) agentStarted() {
	s.mu.Lock()
	clear(s.caughtUp)
	s.startedAt = time.Now()
	s.mu.Unlock()
}

func (s *staleness) sample(kind string, lag float64, at string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lag < time.Since(s.startedAt).Seconds() {
		s.caughtUp[kind] = true // the oldest entry not shipped came after the start: no backlog left
	}
	grace := time.Since(s.startedAt) > time.Duration((s.bound+2)*float64(time.Second))
	if s.faulted == 0 || s.localBusy > 0 || !(s.caughtUp[kind] || grace) {
		return
	}
	s.samples++
	if lag > s.worst[kind] {
		s.worst[kind], s.worstAt[kind] = lag, at
	}
}

// result is the worst lag of either measure, where, and both worsts.
func (s *staleness) result() (float64, string, map[string]float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w float64
	at := ""
	by := map[string]float64{}
	for k, v := range s.worst {
		by[k] = v
		if v > w {
			w, at = v, k+" "+s.worstAt[k]
		}
	}
	return w, at, by
}

// poll samples /status every 100 ms until ctx ends; healthy names the
// store whose lag is recorded. shipped keeps the newest shipped index per
// store.
func (a *AgentProc) poll(ctx context.Context, healthy string, st *staleness, started func() time.Time, shipped func(agentStatus)) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s, err := a.Status(ctx)
		if err != nil {
			continue
		}
		shipped(s)
		for _, ss := range s.Stores {
			if ss.Name == healthy {
				st.sample("status", ss.LagSeconds, fmt.Sprintf("+%.1fs", time.Since(started()).Seconds()))
			}
		}
	}
}
