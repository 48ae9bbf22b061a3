package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/agent"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/lease"
	"github.com/walship/walship/segments"
)

// checkResult is what 'walship check --json' printed.
type checkResult struct {
	OK     bool       `json:"ok"`
	Checks []checkRow `json:"checks"`
}

// runCheck runs check with --json and decodes its rows.
func runCheck(t *testing.T, args ...string) (int, checkResult, string) {
	t.Helper()
	code, out, stderr := walship(t, append([]string{"check", "--json"}, args...)...)
	var res checkResult
	if code != 2 {
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("check printed no JSON (%v): %q, stderr %q", err, out, stderr)
		}
	}
	return code, res, stderr
}

// row returns the row for target and check, failing the test without it.
func (r checkResult) row(t *testing.T, target, check string) checkRow {
	t.Helper()
	for _, row := range r.Checks {
		if row.Target == target && row.Check == check {
			return row
		}
	}
	t.Fatalf("no row %s/%s in %+v", target, check, r.Checks)
	return checkRow{}
}

// wantRow checks a row's status and that its detail mentions each of want.
func (r checkResult) wantRow(t *testing.T, target, check, status string, want ...string) {
	t.Helper()
	row := r.row(t, target, check)
	if row.Status != status {
		t.Errorf("%s/%s: status %s (%s), want %s", target, check, row.Status, row.Detail, status)
	}
	for _, w := range want {
		if !strings.Contains(row.Detail, w) {
			t.Errorf("%s/%s: detail %q does not mention %q", target, check, row.Detail, w)
		}
	}
}

// writeLog writes entries 1..n into a tidwall/wal log at dir.
func writeLog(t *testing.T, dir string, n int) {
	t.Helper()
	l, err := tidwal.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := l.Write(uint64(i), fmt.Appendf(nil, "entry %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFileStore(t *testing.T) {
	root := t.TempDir()
	walDir, store := filepath.Join(root, "wal"), filepath.Join(root, "store")
	writeLog(t, walDir, 5)
	code, res, stderr := runCheck(t, walDir, store)
	if code != 0 || !res.OK {
		t.Fatalf("exit %d, %s: %+v", code, stderr, res.Checks)
	}
	res.wantRow(t, "source", "readable log", statusOK, walDir, "binary", "entries 1..5")
	res.wantRow(t, "state", "outside the source", statusOK, walDir+".walship")
	res.wantRow(t, "state", "writable", statusOK, "does not exist yet", root+" is writable")
	name := "file://" + store
	res.wantRow(t, name, rowReachable, statusOK)
	res.wantRow(t, name, rowProbe, statusOK, "probe/")
	res.wantRow(t, name, rowCond, statusOK, "refused")
	res.wantRow(t, name, rowClock, statusOK, "within 5m0s")
	res.wantRow(t, name, rowBackup, statusOK, "empty")
	if _, err := os.Stat(walDir + ".walship"); !os.IsNotExist(err) {
		t.Errorf("check created the state dir: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(store, "probe", "*"))
	tmps, _ := filepath.Glob(filepath.Join(root, ".walship-check-*"))
	if len(left) > 0 || len(tmps) > 0 {
		t.Errorf("check left probes behind: %v %v", left, tmps)
	}

	// The table: a header, a row per check, a summary.
	code, out, _ := walship(t, "check", walDir, store)
	if code != 0 || !strings.HasPrefix(out, "STATUS") || !strings.Contains(out, fmt.Sprintf("all %d checks passed", len(res.Checks))) {
		t.Fatalf("table, exit %d:\n%s", code, out)
	}
}

// TestCheckUnreachable checks a store on a closed port and one that
// accepts connections and never answers, beside a good one: both fail by
// the deadline, the good one passes, and the exit status is 1.
func TestCheckUnreachable(t *testing.T) {
	t.Setenv("MINIO_ACCESS_KEY", "walship")
	t.Setenv("MINIO_SECRET_KEY", "walship-secret")
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	writeLog(t, walDir, 3)
	hole := blackHole(t)
	closed := "minio://127.0.0.1:1/bucket/db?tls=false"
	silent := "minio://" + hole + "/bucket/db?tls=false"
	code, res, stderr := runCheck(t, walDir, filepath.Join(root, "store"), closed, silent, "--timeout", "1s")
	if code != 1 || res.OK || !strings.Contains(stderr, "2 of 21 checks failed, 10 not tried") {
		t.Fatalf("exit %d, ok %v, stderr %q", code, res.OK, stderr)
	}
	res.wantRow(t, "file://"+filepath.Join(root, "store"), rowProbe, statusOK)
	res.wantRow(t, closed, rowReachable, statusFail, "cannot reach")
	res.wantRow(t, silent, rowReachable, statusFail, "no answer within 1s (--timeout)")
	for _, r := range []string{rowBucket, rowProbe, rowCond, rowClock, rowBackup} {
		res.wantRow(t, closed, r, statusSkip, "did not answer")
	}
	out, _ := json.Marshal(res)
	if strings.Contains(string(out), "walship-secret") {
		t.Fatal("a secret in the output")
	}

	// A URL with credentials is refused, and named without them.
	code, res, _ = runCheck(t, walDir, "minio://user:hunter22@127.0.0.1:1/bucket/db")
	out, _ = json.Marshal(res)
	if code != 1 || strings.Contains(string(out), "hunter22") || !strings.Contains(string(out), "credentials in a store URL are refused") {
		t.Fatalf("credentials in a URL: exit %d: %s", code, out)
	}
}

// blackHole listens and accepts, and never answers.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}

// TestCheckExistingBackup puts a timeline, a segment and a lease in a
// store: check reports them, passes when the lease is this agent's and
// fails when it is another source's.
func TestCheckExistingBackup(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	walDir, store := filepath.Join(root, "wal"), filepath.Join(root, "store")
	writeLog(t, walDir, 3)
	st, err := file.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := segments.EncodeTimeline(segments.Timeline{ID: 1, StartIndex: 1, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, st, segments.TimelineKey(1), tl)
	putObject(t, st, segments.SegmentName{Timeline: 1, First: 1, Last: 42}.Key(), []byte("x"))

	if _, err := lease.Acquire(ctx, st, lease.Self(agent.DefaultStateDir(walDir), walDir), time.Minute, false); err != nil {
		t.Fatal(err)
	}
	code, res, _ := runCheck(t, walDir, store)
	if code != 0 {
		t.Fatalf("own lease: exit %d: %+v", code, res.Checks)
	}
	res.wantRow(t, "file://"+store, rowBackup, statusOK, "1 timeline(s)", "entries up to 42", "lease held by", walDir)

	if _, err := lease.Acquire(ctx, st, lease.Info{Host: "elsewhere", StateDir: "/x.walship", Source: "/x"}, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	code, res, _ = runCheck(t, walDir, store)
	if code != 1 {
		t.Fatalf("another source's lease: exit %d", code)
	}
	res.wantRow(t, "file://"+store, rowBackup, statusFail, "another source", "source /x", "use another prefix")
}

func putObject(t *testing.T, st *file.Store, key string, b []byte) {
	t.Helper()
	if err := st.Put(context.Background(), key, strings.NewReader(string(b)), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func TestCheckConfig(t *testing.T) {
	root := t.TempDir()
	walDir := filepath.Join(root, "wal")
	writeLog(t, walDir, 2)
	cfgPath := filepath.Join(root, "walship.yml")
	write := func(doc string) {
		if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("seal: {size: big}\n")
	code, res, _ := runCheck(t, "--config", cfgPath)
	if code != 1 || len(res.Checks) != 1 {
		t.Fatalf("bad config: exit %d, %+v", code, res.Checks)
	}
	res.wantRow(t, "config", "parses", statusFail, "seal.size", "16MiB")

	write(fmt.Sprintf("source: {wal: %s}\nstate: %s\nstores: [{name: here, url: %q}]\nsnapshot: {command: echo hi}\n",
		walDir, filepath.Join(walDir, "state"), filepath.Join(root, "store")))
	code, res, _ = runCheck(t, "--config", cfgPath)
	if code != 1 {
		t.Fatalf("state inside the source: exit %d", code)
	}
	res.wantRow(t, "config", "parses", statusOK, "1 store(s)")
	res.wantRow(t, "state", "outside the source", statusFail, "inside the WAL dir")
	res.wantRow(t, "here", rowProbe, statusOK)

	// A file where the log should be.
	code, res, _ = runCheck(t, "--config", cfgPath, cfgPath)
	if code != 1 {
		t.Fatalf("not a log: exit %d", code)
	}
	res.wantRow(t, "source", "readable log", statusFail, "tidwall/wal")
}

func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{{"check"}, {"check", "/only/wal"}, {"check", "--timeout", "0s", "a", "b"}, {"check", "--bogus"}} {
		if code, _, _ := walship(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
