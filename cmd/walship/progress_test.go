package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walship/walship/agent"
)

// syncBuffer is a bytes.Buffer safe for the goroutines that log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureLogs sends logs and progress into a buffer for the rest of the
// test, in the format args (--log-format ...) ask for.
func captureLogs(t *testing.T, args ...string) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	old := logOutput
	logOutput = buf
	t.Cleanup(func() { logOutput = old })
	fs := newFlagSet("test", "test")
	if _, err := parseArgs(fs, args); err != nil {
		t.Fatal(err)
	}
	return buf
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

const gib = 1 << 30

// The sentence a progress line holds: counts against totals, the rate so
// far and the time left; without totals no ETA; by objects when no bytes
// move; at the end the time taken.
func TestProgressLine(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	for _, c := range []struct {
		name     string
		op, unit string
		total    [2]int64 // objects, bytes; -1 -1: Total never called
		add      [2]int64
		after    time.Duration
		final    bool
		want     string
	}{
		{"restore", "restore", "segments", [2]int64{4096, 5 * gib}, [2]int64{812, gib}, 4 * time.Second, false,
			"restore: 812/4096 segments, 1.0 GiB/5.0 GiB, 256 MiB/s, eta 16s"},
		{"restore done", "restore", "segments", [2]int64{4096, 5 * gib}, [2]int64{4096, 5 * gib}, 20 * time.Second, true,
			"restore: 4096/4096 segments, 5.0 GiB/5.0 GiB, 256 MiB/s, in 20s"},
		{"no total", "copy", "objects", [2]int64{-1, -1}, [2]int64{3, 1536}, 2 * time.Second, false,
			"copy: 3 objects, 1.5 KiB, 768 B/s"},
		{"objects only", "prune", "objects", [2]int64{10, 0}, [2]int64{4, 0}, 2 * time.Second, false,
			"prune: 4/10 objects, 2.0 objects/s, eta 3s"},
		{"nothing moved", "verify", "segments and chunks", [2]int64{7, 700}, [2]int64{0, 0}, time.Second, false,
			"verify: 0/7 segments and chunks, 0 B/700 B, 0 B/s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMeter(c.op, c.unit, clk.Now)
			if c.total[0] >= 0 {
				m.Total(c.total[0], c.total[1])
			}
			m.Add(c.add[0], c.add[1])
			clk.now = clk.now.Add(c.after)
			if got := m.line(m.counts(), c.final); got != c.want {
				t.Fatalf("line\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// A meter writes a line on every tick and a last one at finish; as JSON
// records with fields under --log-format json; a quiet one writes nothing.
func TestProgressTicks(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			buf := captureLogs(t, "--log-format", format)
			clk := &fakeClock{now: time.Unix(1000, 0)}
			m := newMeter("restore", "segments", clk.Now, "store", "s1")
			ticks, shown := make(chan time.Time), make(chan struct{})
			m.shown = func() { shown <- struct{}{} }
			m.run(ticks, func() {})
			m.Total(10, 10<<20)
			for range 2 {
				m.Add(2, 2<<20)
				clk.now = clk.now.Add(time.Second)
				ticks <- clk.now
				<-shown
			}
			m.Add(6, 6<<20)
			m.finish()
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("want 2 progress lines and a last one, got:\n%s", buf.String())
			}
			if format == "text" {
				for i, want := range []string{"restore: 2/10 segments, 2.0 MiB/10 MiB, 2.0 MiB/s, eta 4s", "restore: 4/10 segments, 4.0 MiB/10 MiB, 2.0 MiB/s, eta 3s", "restore: 10/10 segments, 10 MiB/10 MiB, 5.0 MiB/s, in 2s"} {
					if !strings.Contains(lines[i], `msg="`+want+`"`) {
						t.Fatalf("line %d: %s\nwant msg %q", i, lines[i], want)
					}
				}
				return
			}
			for i, l := range lines {
				var r struct {
					Msg          string `json:"msg"`
					Op           string `json:"op"`
					Store        string `json:"store"`
					Objects      int64  `json:"objects"`
					ObjectsTotal int64  `json:"objects_total"`
					Bytes        int64  `json:"bytes"`
					BytesTotal   int64  `json:"bytes_total"`
					BytesPerSec  int64  `json:"bytes_per_sec"`
					ETA          *int64 `json:"eta"`
				}
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("line %d is not JSON: %v\n%s", i, err, l)
				}
				done := int64(2 * (i + 1))
				if i == 2 {
					done = 10
				}
				if r.Op != "restore" || r.Store != "s1" || r.Objects != done || r.ObjectsTotal != 10 || r.Bytes != done<<20 ||
					r.BytesTotal != 10<<20 || r.BytesPerSec == 0 || (r.ETA == nil) != (i == 2) {
					t.Fatalf("record %d: %+v\n%s", i, r, l)
				}
			}
		})
	}
	t.Run("quiet", func(t *testing.T) {
		buf := captureLogs(t)
		m := startMeter("restore", "segments", true)
		m.Total(1, 1)
		m.Add(1, 1)
		m.finish()
		if m.done != nil || buf.String() != "" {
			t.Fatalf("a quiet meter showed something: %q", buf.String())
		}
	})
}

// Commands draw progress as log lines on stderr (not a terminal), never on
// stdout; --quiet silences them; --json prints a summary that parses.
func TestProgressCommands(t *testing.T) {
	storeDir, want := replicateSome(t, 1500)
	old := lineEvery
	lineEvery = time.Nanosecond // a line on every look
	t.Cleanup(func() { lineEvery = old })

	buf := captureLogs(t)
	out := filepath.Join(t.TempDir(), "r")
	code, stdout, stderr := walship(t, "restore", storeDir, out, "--json", "--no-base", "--parallel", "1")
	if code != 0 {
		t.Fatalf("restore: %d %s", code, stderr)
	}
	var rs restoreSummary
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil {
		t.Fatalf("restore --json: %v\n%s", err, stdout)
	}
	if rs.From != 1 || rs.To != uint64(len(want)) || rs.Entries != uint64(len(want)) || rs.Segments < 2 || rs.Bytes == 0 || rs.Base != "" || rs.DryRun {
		t.Fatalf("restore summary %+v", rs)
	}
	compareRestored(t, filepath.Join(out, "wal"), want)
	logs := buf.String()
	if !strings.Contains(logs, "restore: ") || !strings.Contains(logs, " segments, ") || !strings.Contains(logs, "restore plan from") {
		t.Fatalf("no progress lines or plan on stderr:\n%s", logs)
	}
	if strings.Contains(stdout, "restore: ") {
		t.Fatalf("progress on stdout:\n%s", stdout)
	}

	buf = captureLogs(t)
	code, stdout, stderr = walship(t, "verify", storeDir, "--quiet")
	if code != 0 || !strings.Contains(stdout, "OK: no damage") {
		t.Fatalf("verify --quiet: %d %s %s", code, stdout, stderr)
	}
	if logs := buf.String(); strings.Contains(logs, "verify: ") || !strings.Contains(logs, "verify done") {
		t.Fatalf("verify --quiet showed progress, or no summary line:\n%s", logs)
	}
	buf = captureLogs(t)
	if code, _, stderr := walship(t, "verify", storeDir); code != 0 || !strings.Contains(buf.String(), "verify: ") {
		t.Fatalf("verify showed no progress: %d %s\n%s", code, stderr, buf.String())
	}

	dst := filepath.Join(t.TempDir(), "copy")
	code, stdout, stderr = walship(t, "copy", storeDir, dst, "--json", "--quiet")
	var cs copySummary
	if err := json.Unmarshal([]byte(stdout), &cs); code != 0 || err != nil {
		t.Fatalf("copy --json: %d %v\n%s\n%s", code, err, stdout, stderr)
	}
	if cs.Copied < rs.Segments || cs.Bytes < rs.Bytes || cs.Skipped == nil || cs.From == "" || cs.To == "" {
		t.Fatalf("copy summary %+v", cs)
	}

	// A demo store has base snapshots: prune deletes what lies before the
	// newest.
	demoDir := filepath.Join(t.TempDir(), "demo")
	if code, _, stderr := walship(t, "demo", "--dir", demoDir, "--entries", "2000", "--rate", "20000"); code != 0 {
		t.Fatalf("demo: %s", stderr)
	}
	for _, dry := range []bool{true, false} {
		args := []string{"prune", filepath.Join(demoDir, "store"), "--snapshots", "1", "--window", "1ms", "--json"}
		if dry {
			args = append(args, "--dry-run")
		}
		code, stdout, stderr = walship(t, args...)
		var ps []pruneSummary
		if err := json.Unmarshal([]byte(stdout), &ps); code != 0 || err != nil || len(ps) != 1 {
			t.Fatalf("prune --json: %d %v\n%s\n%s", code, err, stdout, stderr)
		}
		p := ps[0]
		if p.DryRun != dry || p.Objects == 0 || p.Bytes == 0 || p.Deleted["segment"] == 0 || (len(p.List) > 0) != dry {
			t.Fatalf("prune summary (dry run %v) %+v", dry, p)
		}
	}
}

// replicate logs how each store catches up on the backlog the source held
// at start, then "caught up".
func TestProgressCatchUp(t *testing.T) {
	buf := captureLogs(t)
	clk := &fakeClock{now: time.Unix(1000, 0)}
	looks := make(chan agent.Status) // what the agent's status says at each look
	status := func() agent.Status { return <-looks }
	ticks := make(chan time.Time)
	done := make(chan struct{})
	go func() { defer close(done); catchUp(context.Background(), 100, status, ticks, clk.Now) }()
	for i, a := range []uint64{0, 40, 100} { // the first look fixes the start
		select {
		case ticks <- time.Time{}: // it is done with the previous look
		case <-done:
			t.Fatalf("catchUp returned before look %d", i)
		}
		clk.now = clk.now.Add(2 * time.Second) // it reads the clock once it has the status
		looks <- agent.Status{Stores: []agent.StoreStatus{{Name: "a", Shipped: a}, {Name: "b", Shipped: 100}}}
	}
	<-done
	got := buf.String()
	for _, want := range []string{`msg="catch-up a: 40/100 entries, 20.0 entries/s, eta 3s"`, `msg="caught up" store=a index=100`} {
		if !strings.Contains(got, want) {
			t.Fatalf("want %s in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "store=b") || strings.Contains(got, "catch-up b") {
		t.Fatalf("store b had nothing to catch up:\n%s", got)
	}
}
