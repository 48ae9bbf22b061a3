package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	walagent "github.com/walship/walship/agent"
	"github.com/walship/walship/backends/storetest"
)

// minioProc is a MinIO server of one test's own, started from the binary
// testenv.sh installed (WALSHIP_TEST_MINIO_BIN) with the same credentials
// as the shared one. A test that stops a server uses its own: the shared
// MinIO (WALSHIP_TEST_MINIO_PID) also serves the store tests of other
// packages, which `go test ./...` runs at the same time, and they would fail
// while it is down.
//
// Every pid it starts is appended to $WALSHIP_TEST_PIDFILE, so testenv.sh
// kills it on exit even if the test binary dies; t.Cleanup kills it too.
type minioProc struct {
	bin, data      string
	port, cport    int
	access, secret string
	pidfile        string
	cmd            *exec.Cmd
	done           chan struct{}
	log            *syncBuffer
}

func startPrivateMinio(t *testing.T) *minioProc {
	t.Helper()
	v := storetest.Env(t, "WALSHIP_TEST_MINIO_BIN", "WALSHIP_TEST_MINIO_ACCESS_KEY", "WALSHIP_TEST_MINIO_SECRET_KEY",
		"WALSHIP_TEST_PIDFILE", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")
	ports := freePorts(t, 2)
	m := &minioProc{bin: v[0], access: v[1], secret: v[2], pidfile: v[3], data: t.TempDir(), port: ports[0], cport: ports[1]}
	t.Cleanup(func() { // registered after TempDir: runs first
		if m.running() {
			m.cmd.Process.Kill()
			<-m.done
		}
	})
	m.start(t)
	return m
}

func (m *minioProc) endpoint() string { return fmt.Sprintf("127.0.0.1:%d", m.port) }

func (m *minioProc) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// start runs the server (the same data dir and ports every time) and waits
// until it reports ready.
func (m *minioProc) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(m.bin, "server", m.data, "--address", m.endpoint(),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", m.cport), "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.access, "MINIO_ROOT_PASSWORD="+m.secret, "MINIO_BROWSER=off")
	m.log = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = m.log, m.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(m.done) }()
	if f, err := os.OpenFile(m.pidfile, os.O_APPEND|os.O_WRONLY, 0); err == nil {
		fmt.Fprintln(f, cmd.Process.Pid)
		f.Close()
	} else {
		t.Errorf("record MinIO pid in WALSHIP_TEST_PIDFILE: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	url := "http://" + m.endpoint() + "/minio/health/ready"
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if !m.running() || time.Now().After(deadline) {
			t.Fatalf("MinIO on %s not ready (running %v):\n%s", m.endpoint(), m.running(), m.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops the server for real: SIGKILL by pid, as a crash or a lost
// machine would; it returns once the process is gone.
func (m *minioProc) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(m.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill MinIO pid %d: %v", m.cmd.Process.Pid, err)
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("MinIO pid %d still running 10s after SIGKILL", m.cmd.Process.Pid)
	}
	if c, err := net.DialTimeout("tcp", m.endpoint(), time.Second); err == nil {
		c.Close()
		t.Fatalf("MinIO port %d still answers after its process was killed", m.port)
	}
}

// freePorts returns n distinct free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// agentHTTP reads a running agent's /status and /healthz.
type agentHTTP struct {
	addr   string
	client *http.Client
}

func newAgentHTTP(addr string) *agentHTTP {
	return &agentHTTP{addr: addr, client: &http.Client{Timeout: 5 * time.Second}}
}

func (h *agentHTTP) get(path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.addr+path, nil)
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (h *agentHTTP) status() (walagent.Status, error) {
	var st walagent.Status
	code, b, err := h.get("/status")
	if err != nil {
		return st, err
	}
	if code != 200 {
		return st, fmt.Errorf("/status: HTTP %d: %s", code, b)
	}
	err = json.Unmarshal(b, &st)
	return st, err
}

func (h *agentHTTP) healthz() (int, string, error) {
	code, b, err := h.get("/healthz")
	return code, string(b), err
}

// store returns the named store's status.
func storeOf(t *testing.T, st walagent.Status, name string) walagent.StoreStatus {
	t.Helper()
	for _, s := range st.Stores {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no store %q in status %+v", name, st)
	return walagent.StoreStatus{}
}

// waitStatus polls /status until ok says yes, the agent exits, or timeout.
func (h *agentHTTP) waitStatus(t *testing.T, a *agent, what string, timeout time.Duration, ok func(walagent.Status) bool) walagent.Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last walagent.Status
	var lastErr error
	for {
		st, err := h.status()
		if err == nil {
			last = st
			if ok(st) {
				return st
			}
		}
		lastErr = err
		if a.exited() {
			t.Fatalf("agent exited (%v) waiting for %s:\n%s", a.err, what, a.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last status %s, err %v)\n%s", what, timeout, statusLine(last), lastErr, a.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// statusLine is a one-line summary of a status for logs.
func statusLine(st walagent.Status) string {
	s := "tailed " + strconv.FormatUint(st.Tailed, 10) + " sealed " + strconv.FormatUint(st.Sealed, 10)
	for _, ss := range st.Stores {
		s += fmt.Sprintf("; %s shipped %d lag %.1fs/%d", ss.Name, ss.Shipped, ss.LagSeconds, ss.LagEntries)
		if ss.Degraded {
			s += " DEGRADED"
		}
	}
	return s
}
