package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// tmpfsDir mounts a tmpfs of size bytes on a new directory, unmounted when
// the test ends: a filesystem that really fills up. Without root, or when
// the mount fails, the test is skipped; with CI set it fails instead.
func tmpfsDir(t *testing.T, size int64) string {
	t.Helper()
	return mountTmpfs(t, fmt.Sprintf("size=%d,mode=0700", size), 0)
}

// tmpfsDirInodes is tmpfsDir with room for at most inodes files and
// directories: a filesystem whose inodes run out too (fillInodes).
func tmpfsDirInodes(t *testing.T, size int64, inodes int) string {
	t.Helper()
	return mountTmpfs(t, fmt.Sprintf("size=%d,nr_inodes=%d,mode=0700", size, inodes), 0)
}

// mountTmpfs mounts a tmpfs with options on a new directory (see tmpfsDir).
func mountTmpfs(t *testing.T, options string, flags uintptr) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	why := ""
	if os.Geteuid() != 0 {
		why = "not root: cannot mount a tmpfs"
	} else if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, options); err != nil {
		why = fmt.Sprintf("mount a tmpfs on %s: %v", dir, err)
	}
	if why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI is set, so this is a failure, not a skip: the full-disk tests need a filesystem that fills (run as root)", why)
		}
		t.Skipf("%s (with CI set this fails)", why)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

// ballast fills a filesystem as another program would: fillDisk writes
// until the filesystem refuses (ENOSPC), and until release it takes again,
// within a millisecond, any space freed (the agent's spool cleanup too), so
// the filesystem stays full. fillInodes does the same with inodes.
type ballast struct {
	t    *testing.T
	top  func() error // takes what is free, up to the last byte or inode
	free func() error // gives it all back
	stop chan struct{}
	done chan struct{}
	once sync.Once
	err  error // of the goroutine
}

var ballastBuf = make([]byte, 64<<10)

func fillDisk(t *testing.T, dir string) *ballast {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "ballast"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return keepFull(t, func() error { return topBytes(f) }, func() error {
		f.Close()
		return os.Remove(f.Name())
	})
}

// topBytes writes to f until the filesystem is full, to the last byte.
func topBytes(f *os.File) error {
	for n := len(ballastBuf); n > 0; {
		if _, err := f.Write(ballastBuf[:n]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				return fmt.Errorf("ballast: %w", err)
			}
			n /= 2
		}
	}
	return nil
}

// fillInodes takes every free inode of dir's filesystem, as many small
// files would, so that no file can be created there (an inode freed, by a
// spool item removed, is taken again).
func fillInodes(t *testing.T, dir string) *ballast {
	t.Helper()
	dir = filepath.Join(dir, "inodes")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n := 0
	return keepFull(t, func() error {
		for ; ; n++ {
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(n)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("inode ballast: %w", err)
			}
			f.Close()
		}
	}, func() error { return os.RemoveAll(dir) })
}

// pinSpool hard-links every file the spool of stateDir holds into
// stateDir/pins (call it before the ballasts: a link takes an inode), so that the
// agent's removing a shipped item frees neither blocks nor an inode. The
// ballasts take freed space back within a millisecond, but a probe can
// slip in first; pinned, the state dir stays full however fast the
// backlog ships. release removes the links.
func pinSpool(t *testing.T, stateDir string) (release func()) {
	t.Helper()
	pins := filepath.Join(stateDir, "pins")
	if err := os.Mkdir(pins, 0o700); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(filepath.Join(stateDir, "spool"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		n++
		return os.Link(path, filepath.Join(pins, fmt.Sprint(n)))
	})
	if err != nil {
		t.Fatalf("pin the spool: %v", err)
	}
	if n == 0 {
		t.Fatal("pin the spool: it holds nothing")
	}
	return func() {
		if err := os.RemoveAll(pins); err != nil {
			t.Errorf("unpin the spool: %v", err)
		}
	}
}

// keepFull calls top now and every millisecond until release.
func keepFull(t *testing.T, top, free func() error) *ballast {
	t.Helper()
	b := &ballast{t: t, top: top, free: free, stop: make(chan struct{}), done: make(chan struct{})}
	if err := b.top(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-tick.C:
			}
			if err := b.top(); err != nil {
				b.err = err
				return
			}
		}
	}()
	t.Cleanup(b.release)
	return b
}

// release stops taking space and frees what the ballast holds.
func (b *ballast) release() {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		if b.err != nil {
			b.t.Error(b.err)
		}
		if err := b.free(); err != nil {
			b.t.Error(err)
		}
	})
}

// gated holds every Put while closed, like a store that is slow to take
// uploads, so that the spool holds a backlog.
type gated struct {
	backends.Store
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGated(st backends.Store) *gated {
	g := &gated{Store: st, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gated) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gated) let() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

func (g *gated) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.Put(ctx, key, r, size)
}

// diskFullOptions are startWith's tweaks for a state dir that fills: short
// retries, and the logs kept in logs when it is not nil.
func diskFullOptions(stateDir string, logs io.Writer) func(*Options) {
	return func(o *Options) {
		o.StateDir = stateDir
		o.DiskFullBackoff, o.DiskFullMaxBackoff = 10*time.Millisecond, 100*time.Millisecond
		if logs != nil {
			o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
	}
}

// pauseLogs counts the lines logs holds that say sealing paused for a full
// state dir, and resumed.
func pauseLogs(logs *syncBuffer) (paused, resumed int) {
	return strings.Count(logs.String(), `msg="state dir full: sealing paused`),
		strings.Count(logs.String(), `msg="state dir has space again: sealing resumed"`)
}

// childAgentEnv, set in the environment, makes the test binary run an agent
// (childAgent) instead of the tests: a process the test can kill -9.
const childAgentEnv = "WALSHIP_TEST_CHILD_AGENT"

type childConfig struct {
	WAL, State, Store, Addr string
	PutDelay                time.Duration // each upload waits this long first, one at a time: a backlog
}

// delayedPuts makes every Put wait first, like a store far away.
type delayedPuts struct {
	backends.Store
	delay time.Duration
}

func (s delayedPuts) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if !sleep(ctx, s.delay) {
		return ctx.Err()
	}
	return s.Store.Put(ctx, key, r, size)
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childAgentEnv); cfg != "" {
		if err := childAgent(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "child agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childAgent runs an agent as diskFullOptions configures it, serving its
// endpoints on the address given, until it is killed.
func childAgent(cfg string) error {
	var c childConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		return err
	}
	st, err := file.Open(c.Store)
	if err != nil {
		return err
	}
	opt := Options{WALDir: c.WAL, StateDir: c.State, SealSize: 8 << 10, SealInterval: 30 * time.Millisecond,
		Codec: segments.CodecZstd, Stores: []Store{{Name: "s0", Store: delayedPuts{st, c.PutDelay}}}, Logger: quietLogger(),
		Tail: wal.Options{Poll: 5 * time.Millisecond}, MetricsAddr: c.Addr, UploadsInFlight: 1,
		DiskFullBackoff: 10 * time.Millisecond, DiskFullMaxBackoff: 100 * time.Millisecond}
	a, err := New(opt)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(context.Background())
}

// startChildAgent runs childAgent in a new process of the test binary.
func startChildAgent(t *testing.T, c childConfig) *exec.Cmd {
	t.Helper()
	b, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childAgentEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// startShippingChild writes 100 entries to src and runs a child agent on
// stateDir that ships them, one slow upload at a time, to a file store it
// returns; it returns once they are shipped.
func startShippingChild(t *testing.T, src *source, stateDir string) (child *exec.Cmd, addr string, st backends.Store) {
	t.Helper()
	storeDir := t.TempDir()
	st, err := file.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	src.write(100, "a")
	addr = freeAddr(t)
	child = startChildAgent(t, childConfig{WAL: src.dir, State: stateDir, Store: storeDir, Addr: addr, PutDelay: 40 * time.Millisecond})
	waitFor(t, "the child agent shipped", func() bool {
		s, ok := getStatus(addr)
		return ok && len(s.Stores) == 1 && s.Stores[0].Shipped == 100
	})
	return child, addr, st
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// getStatus asks the agent at addr for its Status; ok is false while it
// does not answer.
func getStatus(addr string) (st Status, ok bool) {
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

// getHealth returns the agent's /healthz answer.
func getHealth(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
