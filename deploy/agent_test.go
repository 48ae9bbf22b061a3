package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	tidwal "github.com/tidwall/wal"
)

// liveAgent is a walship agent started with the unit's ExecStart.
type liveAgent struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	dir     string // everything it has: source, stores, state, config
	config  string // its config file
	stores  []string
	logPath string // its stdout and stderr
	exited  chan struct{}
	err     error // of Wait, once exited is closed
	stopped bool
}

// agentConfig is the test agent's config: two file stores, a snapshot
// method (hard links of a data dir, never due), scheduled prunes and
// compaction, so that every metric is on. The unit passes --state.
const agentConfig = `source: {wal: %[1]s/wal, data: %[1]s/data}
seal: {size: 4KiB, interval: 20ms}
stores:
  - {name: primary, url: "file://%[1]s/store-a"}
  - {name: second, url: "file://%[1]s/store-b", limits: {upload_bytes_per_sec: 64MiB}}
limits: {upload_bytes_per_sec: %[3]s}
metrics: {addr: "127.0.0.1:%[2]d"}
retention: {snapshots: 2, interval: 1h}
compaction: {interval: 1h}
`

// startAgent runs walship with the unit's command line (binary, %i, the
// config and state paths replaced by the test's), writes entries to its
// source and waits until both stores have them all.
func startAgent(t *testing.T) *liveAgent {
	t.Helper()
	argv := execStart(t, readUnit(t, unitPath))
	bin := walshipBin(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	src, err := tidwal.Open(filepath.Join(dir, "wal"), &tidwal.Options{SegmentSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := &liveAgent{dir: dir, config: filepath.Join(dir, "etc", instance+".yml"), stores: []string{"primary", "second"},
		logPath: filepath.Join(dir, "agent.log"), exited: make(chan struct{})}
	port := freePort(t)
	a.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := os.MkdirAll(filepath.Dir(a.config), 0o700); err != nil {
		t.Fatal(err)
	}
	a.writeConfig(t, port, "0")
	stateDir := filepath.Join(dir, "state", instance)
	args := make([]string, 0, len(argv))
	for _, arg := range argv[1:] {
		switch arg {
		case unitConfig:
			arg = a.config
		case unitStateVar:
			arg = stateDir
		}
		if strings.ContainsAny(arg, "%$") {
			t.Fatalf("ExecStart argument %q has a specifier or variable this test does not replace", arg)
		}
		args = append(args, arg)
	}
	a.cmd = exec.Command(bin, args...)
	logFile, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the agent has its own descriptor
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	a.cmd.Env = append(os.Environ(), "WALSHIP_TOKEN=") // no admin endpoints
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		if err := a.stop(2 * time.Minute); err != nil {
			t.Errorf("stop the agent: %v\n%s", err, a.logText())
		}
	})

	a.waitFor(t, "GET /healthz answers 200", func() bool {
		code, _ := a.get(t, "/healthz")
		return code == http.StatusOK
	})
	t.Logf("agent serving at %s", a.base)
	const n = 300
	for i := uint64(1); i <= n; i++ {
		if err := src.Write(i, fmt.Appendf(nil, "entry %d %s", i, strings.Repeat("x", int(i%200)))); err != nil {
			t.Fatal(err)
		}
	}
	a.waitFor(t, fmt.Sprintf("both stores have entry %d", n), func() bool {
		fams := a.scrape(t)
		for _, s := range a.stores {
			if v, ok := sample(fams, "walship_store_shipped_index", "store", s); !ok || v < n {
				return false
			}
		}
		return true
	})
	t.Logf("both stores have entries 1..%d", n)
	return a
}

// port is the agent's metrics port.
func (a *liveAgent) port(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(a.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeConfig writes the agent's config with its metrics port and global
// upload limit.
func (a *liveAgent) writeConfig(t *testing.T, port int, uploadLimit string) {
	t.Helper()
	text := fmt.Sprintf(agentConfig, a.dir, port, uploadLimit)
	if err := os.WriteFile(a.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// logText is what the agent wrote to stdout and stderr so far.
func (a *liveAgent) logText() string {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds, the agent exits, or 60 s pass.
func (a *liveAgent) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case <-a.exited:
			t.Fatalf("waiting until %s: the agent exited (%v):\n%s", what, a.err, a.logText())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting until %s: still not after 60s; agent log:\n%s", what, a.logText())
		}
	}
}

func (a *liveAgent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// scrape GETs /metrics and parses the text exposition.
func (a *liveAgent) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := a.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// sample is the value of the family's series whose label has value.
func sample(fams map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && lp.GetValue() == value {
				switch {
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Untyped != nil:
					return m.GetUntyped().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// stop sends SIGTERM, as systemd and the kubelet do, and waits up to
// limit for the agent to exit.
func (a *liveAgent) stop(limit time.Duration) error {
	if a.stopped {
		return nil
	}
	a.stopped = true
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-a.exited:
		return a.err
	case <-time.After(limit):
		a.cmd.Process.Kill()
		<-a.exited
		return fmt.Errorf("still running %v after SIGTERM", limit)
	}
}

// limitsNow is GET /limits: the agent's rate limits now.
func (a *liveAgent) limitsNow(t *testing.T) (global map[string]any) {
	t.Helper()
	code, body := a.get(t, "/limits")
	if code != http.StatusOK {
		t.Fatalf("GET /limits: %d %s", code, body)
	}
	var doc struct {
		Global map[string]any `json:"global"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("GET /limits: %v: %s", err, body)
	}
	return doc.Global
}
