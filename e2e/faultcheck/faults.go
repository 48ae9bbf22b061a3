package faultcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Toxiproxy is a small client of Toxiproxy's HTTP API.
type Toxiproxy struct {
	API    string // host:port
	client *http.Client
}

// NewToxiproxy returns a client of the API at addr (host:port).
func NewToxiproxy(addr string) *Toxiproxy {
	return &Toxiproxy{API: addr, client: &http.Client{Timeout: 10 * time.Second}}
}

func (t *Toxiproxy) do(ctx context.Context, method, path string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+t.API+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy %s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Version checks the server answers.
func (t *Toxiproxy) Version(ctx context.Context) error { return t.do(ctx, "GET", "/version", nil, nil) }

// CreateProxy makes a proxy to upstream listening on a free loopback port
// and returns that listen address.
func (t *Toxiproxy) CreateProxy(ctx context.Context, name, upstream string) (string, error) {
	var out struct {
		Listen string `json:"listen"`
	}
	err := t.do(ctx, "POST", "/proxies", map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true}, &out)
	if err != nil {
		return "", err
	}
	return out.Listen, nil
}

// DeleteProxy removes a proxy (and its toxics).
func (t *Toxiproxy) DeleteProxy(ctx context.Context, name string) error {
	return t.do(ctx, "DELETE", "/proxies/"+name, nil, nil)
}

// AddToxic adds toxic name of kind to proxy, on every connection.
func (t *Toxiproxy) AddToxic(ctx context.Context, proxy, name, kind, stream string, attrs []Attr) error {
	a := map[string]int{}
	for _, x := range attrs {
		a[x.Key] = x.Val
	}
	return t.do(ctx, "POST", "/proxies/"+proxy+"/toxics",
		map[string]any{"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": a}, nil)
}

// RemoveToxic removes a toxic.
func (t *Toxiproxy) RemoveToxic(ctx context.Context, proxy, name string) error {
	return t.do(ctx, "DELETE", "/proxies/"+proxy+"/toxics/"+name, nil, nil)
}

// Server is a store's server process of the checker's own (MinIO,
// fake-gcs-server), started from the binary testenv.sh installed: the
// checker stops and kills it, and testenv.sh's shared servers also serve
// the other packages' tests, which `go test ./...` runs at the same time.
// Every pid is appended to the pidfile (WALSHIP_TEST_PIDFILE) so testenv.sh
// kills it even if the checker dies.
type Server struct {
	Name    string   // for messages
	Bin     string   // the program
	Args    []string // its arguments
	Env     []string // added to the checker's environment
	Addr    string   // host:port it serves on
	Ready   string   // a path that answers 200 once it serves
	Data    string   // its data dir (the checker's Close removes it)
	Pidfile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// newMinio is MinIO on port (console on cport) with the shared server's
// credentials.
func newMinio(env Env, data string, port, cport int) *Server {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &Server{Name: "MinIO", Bin: env.MinioBin, Addr: addr, Ready: "/minio/health/ready", Data: data, Pidfile: env.Pidfile,
		Args: []string{"server", data, "--address", addr, "--console-address", "127.0.0.1:" + strconv.Itoa(cport), "--quiet"},
		Env:  []string{"MINIO_ROOT_USER=" + env.MinioAccess, "MINIO_ROOT_PASSWORD=" + env.MinioSecret, "MINIO_BROWSER=off"}}
}

// Endpoint is host:port of the server's API.
func (m *Server) Endpoint() string { return m.Addr }

// Start runs the server and waits until it is ready.
func (m *Server) Start(ctx context.Context) error {
	m.mu.Lock()
	cmd := exec.Command(m.Bin, m.Args...)
	cmd.Env = append(os.Environ(), m.Env...)
	m.log.Reset()
	cmd.Stdout, cmd.Stderr = &lockedWriter{&m.mu, &m.log}, &lockedWriter{&m.mu, &m.log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the checker
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		return fmt.Errorf("start %s: %w", m.Name, err)
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
	recordPid(m.Pidfile, cmd.Process.Pid)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + m.Addr + m.Ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready: %s", m.Name, m.logText())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s not ready in 60s: %s", m.Name, m.Addr, m.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *Server) logText() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

// Signal sends sig (SIGSTOP, SIGCONT) to the running server.
func (m *Server) Signal(sig syscall.Signal) error {
	if m.cmd == nil {
		return fmt.Errorf("%s not started", m.Name)
	}
	return syscall.Kill(m.cmd.Process.Pid, sig)
}

// Kill SIGKILLs the server and waits for it to be gone.
func (m *Server) Kill() error {
	if m.cmd == nil {
		return nil
	}
	select {
	case <-m.done:
		return nil
	default:
	}
	syscall.Kill(m.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-m.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s pid %d alive 10s after SIGKILL", m.Name, m.cmd.Process.Pid)
	}
}

// Running says whether the server process is alive.
func (m *Server) Running() bool {
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

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Tmpfs is a small tmpfs mounted on Dir, for state dirs that fill up.
type Tmpfs struct {
	Dir    string
	filler string
}

// MountTmpfs mounts a tmpfs of size bytes on dir (made if missing).
func MountTmpfs(dir string, size int64) (*Tmpfs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mount -t tmpfs on %s: %v: %s", dir, err, bytes.TrimSpace(out))
	}
	return &Tmpfs{Dir: dir, filler: filepath.Join(dir, "faultcheck-filler")}, nil
}

// Fill writes a file until the filesystem is full (ENOSPC).
func (t *Tmpfs) Fill() error {
	f, err := os.OpenFile(t.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				buf = buf[:len(buf)/2] // fill the last bytes too
				continue
			}
			return fmt.Errorf("fill %s: %w", t.Dir, err)
		}
	}
	return nil
}

// Unfill frees what Fill took.
func (t *Tmpfs) Unfill() error {
	if err := os.Remove(t.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Unmount unmounts the tmpfs (lazily if busy) and removes the mount point.
func (t *Tmpfs) Unmount() error {
	out, err := exec.Command("umount", t.Dir).CombinedOutput()
	if err != nil {
		if out2, err2 := exec.Command("umount", "-l", t.Dir).CombinedOutput(); err2 != nil {
			return fmt.Errorf("umount %s: %v: %s; %s", t.Dir, err, bytes.TrimSpace(out), bytes.TrimSpace(out2))
		}
	}
	return os.Remove(t.Dir)
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// recordPid appends pid to the pidfile (if any), so testenv.sh kills the
// process even if the checker dies without cleaning up.
func recordPid(pidfile string, pid int) {
	if pidfile == "" {
		return
	}
	if f, err := os.OpenFile(pidfile, os.O_APPEND|os.O_WRONLY, 0); err == nil {
		fmt.Fprintln(f, pid)
		f.Close()
	}
}
