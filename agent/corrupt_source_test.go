package agent

import (
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tidwal "github.com/tidwall/wal"

	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/pitr"
)

// A damaged line in the middle of a JSON source segment: no panic, the
// entries before it ship and restore exactly, /healthz names the file and
// the byte offset, and the agent keeps running (and so does a restart).
func TestCorruptSourceLine(t *testing.T) {
	src := newSource(t, tidwal.JSON)
	src.write(60, "a")
	src.log.Close()
	files, _ := filepath.Glob(filepath.Join(src.dir, "0*"))
	if len(files) == 0 {
		t.Fatal("no segment file")
	}
	path := files[0]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) < 25 {
		t.Fatalf("first segment holds %d lines, want 25+", len(lines))
	}
	offset := 0
	for _, l := range lines[:19] {
		offset += len(l)
	}
	lines[19] = "{\"index\":\"}\n" // entry 20, mid-file
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	st := mem.New()
	state := filepath.Join(t.TempDir(), "state")
	for round := range 2 { // and again after a restart
		r := startAgent(t, src.dir, state, st)
		r.waitShipped(t, 1, 19)
		srv := httptest.NewServer(r.a.Handler())
		var body string
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := srv.Client().Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == 503 && strings.Contains(body, "source") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: /healthz did not report the damaged source: %d %q", round, resp.StatusCode, body)
			}
			time.Sleep(10 * time.Millisecond)
		}
		srv.Close()
		if !strings.Contains(body, filepath.Base(path)) || !strings.Contains(body, "byte "+itoa(offset)) {
			t.Fatalf("round %d: /healthz does not name the file and byte offset %d: %q", round, offset, body)
		}
		select {
		case err := <-r.done:
			t.Fatalf("round %d: the agent stopped on a damaged source: %v", round, err)
		default:
		}
		if got := r.a.Status().Stores[0].Shipped; got != 19 {
			t.Fatalf("round %d: shipped %d, want exactly the 19 entries before the damage", round, got)
		}
		r.halt(t)
	}
	restoreAndCompare(t, st, pitr.Target{Latest: true}, src.want, 1, 19)
}

func itoa(n int) string { return strconv.Itoa(n) }
