package demo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	tidwal "github.com/tidwall/wal"
)

// checkRestore checks a restore to target in out: the WAL holds exactly
// source entries base+1..target, and base data + replayed WAL equals the
// state the database had after entry target. It returns the base index (0
// without a base) and how many entries were replayed.
func checkRestore(out string, source [][]byte, target uint64) (base uint64, replayed int, err error) {
	state := kvState{}
	dataDir := filepath.Join(out, "data")
	if _, err := os.Stat(dataDir); err == nil {
		if state, err = readDir(dataDir); err != nil {
			return 0, 0, fmt.Errorf("read restored data: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, err
	}
	l, err := tidwal.Open(filepath.Join(out, "wal"), &tidwal.Options{LogFormat: tidwal.Binary, AllowEmpty: true})
	if err != nil {
		return 0, 0, fmt.Errorf("open restored log: %w", err)
	}
	defer l.Close()
	first, _ := l.FirstIndex()
	last, _ := l.LastIndex()
	empty := last < first || last == 0
	switch {
	case empty:
		base = target
	default:
		base = first - 1
		if last != target {
			return 0, 0, fmt.Errorf("restored log ends at %d, want %d", last, target)
		}
	}
	if base > 0 && len(state) == 0 && base > 1 {
		if _, err := os.Stat(dataDir); err != nil {
			return 0, 0, fmt.Errorf("restored log starts at %d but no base data was restored", base+1)
		}
	}
	for i := base + 1; i <= target && !empty; i++ {
		e, err := l.Read(i)
		if err != nil {
			return 0, 0, fmt.Errorf("read restored entry %d: %w", i, err)
		}
		if !bytes.Equal(e, source[i]) {
			return 0, 0, fmt.Errorf("restored entry %d differs from the source", i)
		}
		if err := state.apply(e); err != nil {
			return 0, 0, fmt.Errorf("replay entry %d: %w", i, err)
		}
		replayed++
	}
	want := kvState{}
	for i := uint64(1); i <= target; i++ {
		want.apply(source[i])
	}
	if !state.equal(want) {
		return 0, 0, fmt.Errorf("rebuilt state (%d keys) differs from the database's at entry %d (%d keys)", len(state), target, len(want))
	}
	return base, replayed, nil
}
