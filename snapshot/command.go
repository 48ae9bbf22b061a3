package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/segments"
)

// releaseTimeout bounds the release command, which runs even when the
// snapshot's context was cancelled (the checkpoint must be given back).
const releaseTimeout = 2 * time.Minute

// Command captures a snapshot with user commands. Argv runs without a shell
// (give "sh", "-c", "..." for one) and must print exactly one line to stdout:
//
//	{"dir": "/abs/path/of/checkpoint", "index": 4711}
//
// naming a consistent checkpoint directory that contains every WAL entry <=
// index. After the upload, successful or not, Release (if set) runs with the
// directory appended as its last argument.
type Command struct {
	Argv    []string
	Release []string
}

// checkpoint is what a capture command prints.
type checkpoint struct {
	Dir   *string `json:"dir"`
	Index *uint64 `json:"index"`
}

// Snapshot runs the capture command, uploads the directory it named (see
// Upload) and releases it. A command that fails or prints anything but the
// one JSON line is an ErrCommand error naming it, with its stderr's tail;
// no manifest is written then. If only the release fails, the snapshot is
// stored: the manifest and stats are returned with an ErrRelease error.
func (c Command) Snapshot(ctx context.Context, st backends.Store, o Options) (Manifest, Stats, error) {
	start := time.Now()
	o, err := o.withDefaults()
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	o.method = segments.MethodCommand
	out, err := runCommand(ctx, "capture", c.Argv)
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: %w", err)
	}
	dir, index, err := parseCheckpoint(out)
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: %w: capture command %s: %v", ErrCommand, c.Argv[0], err)
	}
	if o.Detail == "" {
		o.Detail = fmt.Sprintf("command %s, checkpoint %s", c.Argv[0], dir)
	}
	m, stats, err := c.upload(ctx, st, dir, index, o)
	stats.Elapsed = time.Since(start)
	if len(c.Release) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		_, relErr := runCommand(rctx, "release", c.Release, dir)
		cancel()
		if relErr != nil {
			if err != nil {
				return Manifest{}, stats, errors.Join(err, fmt.Errorf("snapshot: %w", relErr))
			}
			return m, stats, fmt.Errorf("snapshot %s: %w: %w", m.Key(), ErrRelease, relErr)
		}
	}
	return m, stats, err
}

func (c Command) upload(ctx context.Context, st backends.Store, dir string, index uint64, o Options) (Manifest, Stats, error) {
	real, err := resolveDir(dir)
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot: checkpoint dir from capture command %s: %w", c.Argv[0], err)
	}
	t, err := walkTree(real, false, o.Logger, nil)
	if err != nil {
		return Manifest{}, Stats{}, fmt.Errorf("snapshot %s: %w", real, err)
	}
	return upload(ctx, st, real, t, index, o)
}

// parseCheckpoint reads the capture command's one line of output.
func parseCheckpoint(out []byte) (string, uint64, error) {
	var lines [][]byte
	for _, l := range bytes.Split(out, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	want := `want one line {"dir": "/abs/path", "index": N}`
	if len(lines) != 1 {
		return "", 0, fmt.Errorf("printed %d non-empty lines, %s", len(lines), want)
	}
	var cp checkpoint
	dec := json.NewDecoder(bytes.NewReader(lines[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cp); err != nil || dec.More() {
		return "", 0, fmt.Errorf("printed %q: %v; %s", truncate(lines[0], 200), err, want)
	}
	if cp.Dir == nil || cp.Index == nil {
		return "", 0, fmt.Errorf("printed %q without \"dir\" or \"index\"; %s", truncate(lines[0], 200), want)
	}
	if !filepath.IsAbs(*cp.Dir) {
		return "", 0, fmt.Errorf("dir %q is not an absolute path", *cp.Dir)
	}
	if fi, err := os.Stat(*cp.Dir); err != nil || !fi.IsDir() {
		return "", 0, fmt.Errorf("dir %q is not a directory (%v)", *cp.Dir, err)
	}
	return *cp.Dir, *cp.Index, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
