package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

const (
	maxStdout  = 64 << 10 // a capture command prints one short line
	stderrTail = 2 << 10  // how much of a failed command's stderr an error quotes
	waitDelay  = 5 * time.Second
)

// runCommand runs argv (no shell) with extra arguments appended and returns
// its stdout. A failure wraps ErrCommand and names the command's role and
// program, its exit status and the tail of its stderr; the other arguments
// are left out of messages, they may hold secrets.
func runCommand(ctx context.Context, role string, argv []string, extra ...string) ([]byte, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("%w: %s command: empty", ErrCommand, role)
	}
	cmd := exec.CommandContext(ctx, argv[0], append(append([]string{}, argv[1:]...), extra...)...)
	var stdout capBuffer
	var stderr tailBuffer
	stdout.max, stderr.max = maxStdout, stderrTail
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = waitDelay // a child that keeps our pipes open cannot hang us
	err := cmd.Run()
	if err == nil && stdout.over {
		err = fmt.Errorf("printed more than %d bytes", maxStdout)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%v (%w)", err, ctxErr)
		}
		return nil, fmt.Errorf("%w: %s command %s: %w%s", ErrCommand, role, argv[0], err, stderr.quote())
	}
	return stdout.b.Bytes(), nil
}

// capBuffer keeps at most max bytes and notes whether more came.
type capBuffer struct {
	b    bytes.Buffer
	max  int
	over bool
}

// Write claims to take all of p, so the command is not killed by a short
// write; the caller checks over.
func (c *capBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.max - c.b.Len(); len(p) > room {
		c.over = true
		p = p[:max(room, 0)]
	}
	c.b.Write(p)
	return n, nil
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return n, nil
}

func (t *tailBuffer) quote() string {
	s := strings.TrimSpace(string(bytes.ToValidUTF8(t.b, []byte("?"))))
	if s == "" {
		return " (no stderr)"
	}
	return "; stderr: " + s
}
