package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walship/walship/backends/storetest"
	"github.com/walship/walship/internal/testwal"
	"github.com/walship/walship/wal"
)

// The README's five-minute start is run as written: its shell block,
// between the quickstart markers, with walship on PATH and only WORK,
// ADDR (and STORE, for MinIO) set from outside, as the block invites.
func TestReadmeQuickstart(t *testing.T) {
	block := readmeBlock(t, "quickstart")
	t.Run("file", func(t *testing.T) { runQuickstart(t, block, nil) })
	t.Run("minio", func(t *testing.T) {
		srv := minioEnv(t)
		store := fmt.Sprintf("minio://%s/%s/%s?tls=false", srv.endpoint, srv.bucket, storetest.RandomName("readme-"))
		runQuickstart(t, block, []string{"STORE=" + store})
	})
}

// readmeBlock returns the shell code block between the README's
// <!-- NAME:begin --> and <!-- NAME:end --> markers.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	_, rest, ok := strings.Cut(string(b), begin)
	section, _, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("README.md has no %s ... %s", begin, end)
	}
	section = strings.TrimSpace(section)
	code, ok := strings.CutPrefix(section, "```sh\n")
	if !ok || !strings.HasSuffix(code, "\n```") {
		t.Fatalf("between the %s markers, want one ```sh block, got:\n%s", name, section)
	}
	return strings.TrimSuffix(code, "```")
}

// runQuickstart runs the block with bash -euo pipefail from the
// repository's root and checks what it printed and restored.
func runQuickstart(t *testing.T, block string, env []string) {
	work := t.TempDir()
	script := filepath.Join(work, "quickstart.sh")
	if err := os.WriteFile(script, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", script)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "WORK="+work, "ADDR="+addr,
		"PATH="+filepath.Dir(walshipBin(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, env...)
	// Its own process group: whatever the block leaves running is found
	// and killed, pass or fail.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	left := syscall.Kill(-cmd.Process.Pid, 0) == nil
	if left {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	noSecrets(t, "quickstart", stdout.String()+stderr.String())
	if err != nil {
		t.Fatalf("the README's quickstart failed (%v) after %v\nstdout:\n%s\nstderr:\n%s", err, time.Since(start), &stdout, &stderr)
	}
	t.Logf("quickstart ran in %v", time.Since(start).Round(time.Millisecond))
	if left {
		t.Errorf("the block left processes running (it must stop what it starts)")
	}
	out := stdout.String()
	for _, want := range []string{
		"checks passed",
		"marked restore point first-backup (pinned): timeline 1, index 3000",
		"restored entries 1..3000",
		"restored log is identical",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the quickstart's output lacks %q:\n%s", want, out)
		}
	}
	if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
		f := strings.Fields(l)
		return len(f) >= 6 && f[2] == "3000" && f[5] == "ok"
	}) {
		t.Errorf("walship status shows no store with 3000 entries shipped:\n%s", out)
	}
	// The block's diff is checked by reading both logs with tidwall/wal.
	_, src := testwal.ReadLog(t, filepath.Join(work, "db", "wal"), wal.FormatAuto)
	first, got := testwal.ReadLog(t, filepath.Join(work, "restored", "wal"), wal.FormatAuto)
	if len(src) != 3000 || first != 1 || !slices.EqualFunc(src, got, bytes.Equal) {
		t.Errorf("restored %d entries from %d, the source has %d: not the same log", len(got), first, len(src))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("the quickstart took longer than %v", 3*time.Minute)
	}
}
