package testwal

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// BuildWriter builds the walwriter program (once per test process) and
// returns the binary's path.
//
// walwriter flags:
//
//	-dir DIR            the log directory (created if missing)
//	-format binary|json tidwall LogFormat (default binary)
//	-segsize N          tidwall SegmentSize in bytes (default tidwall's 20 MiB)
//	-seed S -max M      entry i is Entry(S, i, M) (defaults 1 and 1024)
//	-count N            write N entries, then exit; 0 = until SIGINT/SIGTERM/kill,
//	                    or none when a truncation flag is given
//	-rate R             entries per second; 0 = as fast as possible
//	-batch B            entries per WriteBatch (default 1)
//	-start I            when DIR holds no log yet, make it start at index I
//	-nosync             tidwall NoSync
//	-truncate-front I   first TruncateFront(I) (entries before I go away)
//	-truncate-back I    then TruncateBack(I) (entries after I go away)
//
// Truncations are done by the writer process itself, like a database would:
// run walwriter again with -truncate-front/-truncate-back (and -count N with
// another -seed to append different entries after a TruncateBack), while the
// tailer under test keeps running. In-process tidwall/wal writes work too
// once no walwriter runs on the directory.
//
// It appends after the log's last entry, so it can be run again on the same
// directory (with another -seed after a truncation to write different data),
// and prints nothing but errors (exit status 1).
//
// The binary is put next to the test binary when that lives in go test's
// temporary work directory (removed when go test exits), else in a new
// temporary directory.
func BuildWriter(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.path, build.err = buildWriter() })
	if build.err != nil {
		t.Fatalf("build walwriter: %v", build.err)
	}
	return build.path
}

func buildWriter() (string, error) {
	dir := ""
	if exe, err := os.Executable(); err == nil && strings.Contains(exe, "go-build") {
		dir = filepath.Dir(exe)
	}
	if dir == "" || !writable(dir) {
		d, err := os.MkdirTemp("", "walship-walwriter-")
		if err != nil {
			return "", err
		}
		dir = d
	}
	out := filepath.Join(dir, "walwriter")
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	// The working directory of a test is its package directory, inside the
	// module, so the package path resolves in this module.
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/walship/walship/internal/testwal/walwriter")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, b)
	}
	return out, nil
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}
