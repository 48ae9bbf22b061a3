package pitr

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// prepareOutDir creates outDir if needed, or checks an existing one:
// without force it must be empty (and so must a WAL or data dir elsewhere);
// with force, the WAL and data dirs must be missing, empty, or claimed by
// the marker of an earlier restore (prev) and hold only what it wrote, and
// the temporary dirs an interrupted install left are removed. created says
// whether it made outDir, to remove it again on failure. dataDir is ""
// without a base.
func prepareOutDir(outDir, walDir, dataDir string, force bool) (created bool, prev *Marker, err error) {
	absOut, err1 := filepath.Abs(outDir)
	absWAL, err2 := filepath.Abs(walDir)
	if err := errors.Join(err1, err2); err != nil {
		return false, nil, err
	}
	if within(absOut, absWAL) {
		return false, nil, fmt.Errorf("the WAL directory %s must not be the output directory or above it", walDir)
	}
	if dataDir != "" {
		absData, err := filepath.Abs(dataDir)
		if err != nil {
			return false, nil, err
		}
		switch {
		case within(absOut, absData):
			return false, nil, fmt.Errorf("the data directory %s must not be the output directory or above it", dataDir)
		case within(absWAL, absData) || within(absData, absWAL):
			return false, nil, fmt.Errorf("the data directory %s and the WAL directory %s must not be one inside the other", dataDir, walDir)
		}
	}
	fi, err := os.Stat(outDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(outDir, outDirPerm); err != nil {
			return false, nil, fmt.Errorf("create output directory: %w", err)
		}
		created = true
	case err != nil:
		return false, nil, fmt.Errorf("output directory: %w", err)
	case !fi.IsDir():
		return false, nil, fmt.Errorf("output directory %s is not a directory", outDir)
	}
	if prev, err = ReadMarker(outDir); err != nil {
		return created, nil, err
	}
	if !force {
		if prev != nil && prev.State != MarkerComplete {
			return created, nil, fmt.Errorf("%w (%w)", incomplete(outDir, prev), ErrOutDirNotEmpty)
		}
		for _, d := range []string{outDir, walDir, dataDir} {
			// A WAL or data directory outside OUT_DIR must be empty too.
			if err := refuseNonEmpty(d); d != "" && err != nil {
				return created, nil, err
			}
		}
	} else {
		if err := checkReplaceable(walDir, true, prev); err != nil {
			return created, nil, err
		}
		if dataDir != "" {
			if err := checkReplaceable(dataDir, false, prev); err != nil {
				return created, nil, err
			}
		}
		if prev != nil && prev.State != MarkerComplete {
			if err := removeStale(prev); err != nil {
				return created, nil, err
			}
		}
	}
	for _, d := range []string{walDir, dataDir} {
		if d == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(d), outDirPerm); err != nil {
			return created, nil, fmt.Errorf("create parent of %s: %w", d, err)
		}
	}
	return created, prev, nil
}

// within reports whether path is dir or inside it (both absolute).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func refuseNonEmpty(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: %s holds %q...; restore into an empty or new directory, or pass --force to replace the output of an earlier walship restore", ErrOutDirNotEmpty, dir, names)
	}
	return nil
}

// removeTree removes dir and everything below it, first making its
// directories writable (restored base files keep their modes, which may
// make a directory read-only). Symlinks are removed, never followed.
func removeTree(dir string) error {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
