package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/pitr"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/wal"
)

// source is a tidwall/wal log the test writes as the database would, and
// the content every index must have.
type source struct {
	t      *testing.T
	dir    string
	log    *tidwal.Log
	format tidwal.LogFormat
	want   map[uint64][]byte // index -> data, for the current history
	rng    *rand.Rand
}

func newSource(t *testing.T, format tidwal.LogFormat) *source {
	dir := filepath.Join(t.TempDir(), "wal")
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: format, SegmentSize: 16 << 10, AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &source{t: t, dir: dir, log: l, format: format, want: map[uint64][]byte{}, rng: rand.New(rand.NewPCG(uint64(len(t.Name())), 7))}
}

func (s *source) entry(i uint64, salt string) []byte {
	n := s.rng.IntN(600)
	if i%13 == 0 {
		n = 0
	}
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(s.rng.IntN(256))
	}
	if i%3 == 0 { // text too, for JSON's "+" form
		b = []byte(fmt.Sprintf("entry %d %s %x", i, salt, b))
	}
	return b
}

// write appends n entries.
func (s *source) write(n int, salt string) {
	s.t.Helper()
	last, _ := s.log.LastIndex()
	if last == 0 {
		f, _ := s.log.FirstIndex()
		if f > 0 {
			last = f - 1
		}
	}
	for i := last + 1; i <= last+uint64(n); i++ {
		d := s.entry(i, salt)
		if err := s.log.Write(i, d); err != nil {
			s.t.Fatalf("write %d: %v", i, err)
		}
		s.want[i] = d
	}
}

func (s *source) last() uint64 {
	l, _ := s.log.LastIndex()
	return l
}

func quietLogger() *slog.Logger {
	if os.Getenv("WALSHIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// running is an agent running in the background.
type running struct {
	a    *Agent
	stop context.CancelFunc
	done chan error
}

func startAgent(t *testing.T, walDir, stateDir string, stores ...backends.Store) *running {
	t.Helper()
	var ss []Store
	for _, st := range stores {
		ss = append(ss, Store{Store: st})
	}
	a, err := New(Options{WALDir: walDir, StateDir: stateDir, SealSize: 8 << 10, SealInterval: 50 * time.Millisecond,
		Codec: segments.CodecZstd, Stores: ss, Logger: quietLogger(), Tail: wal.Options{Poll: 5 * time.Millisecond}})
	if err != nil {
		t.Fatalf("new agent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

// halt stops the agent and waits for it.
func (r *running) halt(t *testing.T) {
	t.Helper()
	if r.a == nil {
		return
	}
	r.stop()
	if err := <-r.done; err != nil {
		t.Errorf("agent run: %v", err)
	}
	r.a.Close()
	r.a = nil
}

// waitShipped waits until every store has entry idx on the timeline.
func (r *running) waitShipped(t *testing.T, tl uint32, idx uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := r.a.Status()
		ok := true
		for _, s := range st.Stores {
			if s.Timeline != tl || s.Shipped < idx {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case err := <-r.done:
			t.Fatalf("agent stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeline %d entry %d not shipped within 30s: %+v", tl, idx, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// restoreAndCompare restores target from st and checks the log holds
// exactly want[from..to].
func restoreAndCompare(t *testing.T, st backends.Store, target pitr.Target, want map[uint64][]byte, from, to uint64) {
	t.Helper()
	out := t.TempDir()
	if _, _, err := pitr.Restore(context.Background(), st, target, out, pitr.Options{}); err != nil {
		t.Fatalf("restore %+v: %v", target, err)
	}
	compareLog(t, filepath.Join(out, "wal"), want, from, to)
}

func compareLog(t *testing.T, dir string, want map[uint64][]byte, from, to uint64) {
	t.Helper()
	l, err := tidwal.Open(dir, &tidwal.Options{AllowEmpty: true, LogFormat: detectFormat(t, dir)})
	if err != nil {
		t.Fatalf("open restored log: %v", err)
	}
	defer l.Close()
	f, _ := l.FirstIndex()
	li, _ := l.LastIndex()
	if f != from || li != to {
		t.Fatalf("restored log holds %d..%d, want %d..%d", f, li, from, to)
	}
	for i := from; i <= to; i++ {
		got, err := l.Read(i)
		if err != nil {
			t.Fatalf("read restored %d: %v", i, err)
		}
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("restored entry %d differs from the source (%d bytes vs %d)", i, len(got), len(want[i]))
		}
	}
}

func detectFormat(t *testing.T, dir string) tidwal.LogFormat {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if len(b) > 0 {
			if bytes.HasPrefix(b, []byte(`{"index":"`)) {
				return tidwal.JSON
			}
			return tidwal.Binary
		}
	}
	return tidwal.Binary
}

func copyMap(m map[uint64][]byte) map[uint64][]byte {
	c := make(map[uint64][]byte, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
