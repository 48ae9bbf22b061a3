package testwal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"
)

// SteadyOptions shape a Steady writer.
type SteadyOptions struct {
	Seed        int64
	Every       time.Duration // one entry per tick
	MaxSize     int           // Entry's maxSize (default 1024)
	SegmentSize int           // tidwall segment file size (default 64 KiB)
	Sync        bool          // fsync every write, as tidwall does by default
}

// Steady appends Entry(Seed, i, MaxSize) to a tidwall/wal log in this
// process at a steady pace, the way a database would, and remembers every
// entry. The test's cleanup halts it if the test did not.
type Steady struct {
	log  *tidwal.Log
	mu   sync.Mutex
	data [][]byte // data[i-1] is entry i
	stop chan struct{}
	done chan struct{}
	once sync.Once
	err  error
}

// StartSteady opens (creates) the log in dir and starts writing.
func StartSteady(t testing.TB, dir string, o SteadyOptions) *Steady {
	t.Helper()
	if o.MaxSize == 0 {
		o.MaxSize = 1024
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 64 << 10
	}
	l, err := tidwal.Open(dir, &tidwal.Options{LogFormat: tidwal.Binary, SegmentSize: o.SegmentSize, NoSync: !o.Sync})
	if err != nil {
		t.Fatal(err)
	}
	w := &Steady{log: l, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(o.Every)
		defer tick.Stop()
		for i := uint64(1); ; i++ {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			d := Entry(o.Seed, i, o.MaxSize)
			if err := l.Write(i, d); err != nil {
				w.err = err
				return
			}
			w.mu.Lock()
			w.data = append(w.data, d)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Halt(t) })
	return w
}

// Count is how many entries were written so far.
func (w *Steady) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.data)
}

// Halt stops the writer, closes the log and returns every entry written.
// It may be called more than once.
func (w *Steady) Halt(t testing.TB) [][]byte {
	t.Helper()
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		if err := w.log.Close(); err != nil && w.err == nil {
			w.err = err
		}
	})
	if w.err != nil {
		t.Fatalf("steady writer: %v", w.err)
	}
	return w.data
}

// Shipped reads the agent's STATE/state.json and returns the highest entry
// index it records as shipped to any store (0 when there is none yet).
func Shipped(stateDir string) uint64 {
	b, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err != nil {
		return 0
	}
	var st struct {
		Shipped map[string]struct{ Index uint64 } `json:"shipped"`
	}
	if json.Unmarshal(b, &st) != nil {
		return 0
	}
	var top uint64
	for _, p := range st.Shipped {
		top = max(top, p.Index)
	}
	return top
}
