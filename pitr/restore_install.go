package pitr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A restore's output is marked by one file in OUT_DIR, MarkerName, which is
// also the restore's journal. Install protocol (Execute):
//
//  1. build the log and the base files in temporary dirs (".walship-restore-*")
//     beside their destinations; nothing at the destinations changes
//  2. write the marker, state "installing", naming both destinations and the
//     temporary dirs; fsync it and OUT_DIR
//  3. move an existing WAL dir aside (into its temporary dir)
//  4. move an existing data dir aside, rename the new data dir in
//  5. rename the new WAL dir in
//  6. rewrite the marker, state "complete"; then remove the temporary dirs
//
// So while the marker says "installing" the WAL dir is absent or new, and
// the data dir absent, old or new: the pair belongs together only once the
// marker says "complete". A kill -9 anywhere leaves the marker saying
// "installing": CheckRestored reports ErrIncompleteRestore, a restore
// without Force refuses the OUT_DIR, and one with Force removes the
// temporary dirs the marker names and restores afresh.
//
// Force replaces only what a marker claims: a WAL or data dir it names,
// holding nothing but tidwall segment files (WAL) or the top-level names
// the marker lists (data). Anything else is refused, never deleted.
const MarkerName = ".walship-restore"

// Marker states.
const (
	MarkerInstalling = "installing"
	MarkerComplete   = "complete"
)

const (
	markerWrittenBy = "walship restore"
	markerVersion   = 1
	tempPrefix      = ".walship-restore-"
	outDirPerm      = 0o700 // OUT_DIR and parents the restore creates
)

var (
	// ErrIncompleteRestore: the marker in OUT_DIR says a restore was being
	// installed when it stopped; the WAL and data dirs may not belong
	// together.
	ErrIncompleteRestore = errors.New("restore incomplete")
	// ErrNotRestoreOutput: a directory Force would replace holds files
	// walship restore did not write.
	ErrNotRestoreOutput = errors.New("not a walship restore output")
)

// Marker is the content of OUT_DIR/MarkerName.
type Marker struct {
	WrittenBy string    `json:"written_by"` // always "walship restore"
	Version   int       `json:"version"`
	State     string    `json:"state"` // MarkerInstalling or MarkerComplete
	WALDir    string    `json:"wal_dir"`
	DataDir   string    `json:"data_dir,omitempty"`
	DataNames []string  `json:"data_names,omitempty"` // top-level names walship wrote in DataDir
	Temp      []string  `json:"temp,omitempty"`       // temporary dirs of an install in progress
	Store     string    `json:"store,omitempty"`
	Timeline  uint32    `json:"timeline"`
	From      uint64    `json:"from"` // the log's first index
	To        uint64    `json:"to"`   // its last (From-1: empty)
	Base      string    `json:"base,omitempty"`
	Time      time.Time `json:"time"`
}

// ReadMarker reads outDir's marker; nil without one.
func ReadMarker(outDir string) (*Marker, error) {
	path := filepath.Join(outDir, MarkerName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read restore marker %s: %w", path, err)
	}
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil || m.WrittenBy != markerWrittenBy {
		return nil, fmt.Errorf("restore marker %s is damaged or not walship's (%v): remove the restore output by hand and restore again", path, err)
	}
	return &m, nil
}

// CheckRestored tells whether outDir holds a complete restore: use it
// before opening the restored log (wal.Open, tidwall/wal) or data. It
// returns ErrIncompleteRestore for an install that was interrupted and
// ErrNotRestoreOutput for a directory without a marker.
func CheckRestored(outDir string) (*Marker, error) {
	m, err := ReadMarker(outDir)
	switch {
	case err != nil:
		return nil, err
	case m == nil:
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotRestoreOutput, outDir, MarkerName)
	case m.State != MarkerComplete:
		return m, incomplete(outDir, m)
	}
	return m, nil
}

func incomplete(outDir string, m *Marker) error {
	dirs := m.WALDir
	if m.DataDir != "" {
		dirs += " and " + m.DataDir
	}
	return fmt.Errorf("%w: a restore into %s stopped while installing (%s says %q): %s may not belong together; run the restore again with --force to replace them",
		ErrIncompleteRestore, outDir, filepath.Join(outDir, MarkerName), m.State, dirs)
}

// writeMarker replaces outDir's marker atomically and durably.
func writeMarker(outDir string, m *Marker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode restore marker: %w", err)
	}
	path := filepath.Join(outDir, MarkerName)
	f, err := os.CreateTemp(outDir, MarkerName+".tmp-*")
	if err != nil {
		return fmt.Errorf("write restore marker %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write restore marker %s: %w", path, err)
	}
	return syncDir(outDir)
}

// putMarkerBack restores outDir's marker as it was before an install that
// was undone: prev, or none.
func putMarkerBack(outDir string, prev *Marker) error {
	if prev != nil {
		return writeMarker(outDir, prev)
	}
	if err := os.Remove(filepath.Join(outDir, MarkerName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove restore marker: %w", err)
	}
	return syncDir(outDir)
}

// checkReplaceable accepts a missing or empty dir, or one prev claims that
// holds only what walship restore writes there.
func checkReplaceable(dir string, isWAL bool, prev *Marker) error {
	names, err := dirNames(dir)
	if err != nil || len(names) == 0 {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	claimed := prev != nil && ((isWAL && prev.WALDir == abs) || (!isWAL && prev.DataDir == abs))
	if !claimed {
		return fmt.Errorf("%w: --force replaces only the output of an earlier walship restore, and %s holds %q but no %s names it; move it away or restore elsewhere",
			ErrNotRestoreOutput, dir, names[0], MarkerName)
	}
	for _, n := range names {
		ours := slices.Contains(prev.DataNames, n)
		if isWAL {
			ours = isSegmentName(n)
		}
		if !ours {
			return fmt.Errorf("%w: %s holds %s, which walship restore did not write; move it away (or restore elsewhere), then run the restore again",
				ErrNotRestoreOutput, dir, filepath.Join(dir, n))
		}
	}
	return nil
}

// isSegmentName reports whether name is a tidwall/wal file name: 20 digits,
// optionally with .START or .END (a truncation in progress). The database
// may have appended to a restored log; its new files are the log's too.
func isSegmentName(name string) bool {
	base, _ := strings.CutSuffix(name, ".START")
	if base == name {
		base, _ = strings.CutSuffix(name, ".END")
	}
	if len(base) != 20 {
		return false
	}
	for _, c := range base {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// dirNames lists dir, sorted; nothing for a missing dir.
func dirNames(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", dir, err)
	}
	names := make([]string, len(des))
	for i, de := range des {
		names[i] = de.Name()
	}
	return names, nil
}

// removeStale removes the temporary dirs an interrupted install's marker
// names (and only those that look like ours).
func removeStale(m *Marker) error {
	for _, d := range m.Temp {
		if !strings.HasPrefix(filepath.Base(d), tempPrefix) {
			continue
		}
		if err := removeTree(d); err != nil {
			return fmt.Errorf("remove %s left by an interrupted restore: %w", d, err)
		}
	}
	return nil
}

// installHook, set by tests, runs between the data and the WAL renames.
var installHook func()

// installation renames a built WAL dir (and data dir) into place as one
// unit, following the protocol above.
type installation struct {
	outDir           string
	walDir, dataDir  string // dataDir "" without a base
	builtWAL, tmpWAL string
	builtData        string
	tmpData          string
	prev             *Marker // the marker before this restore, or nil
	m                Marker  // this restore's, State and Temp set by run
}

func (in *installation) run() (err error) {
	if in.dataDir != "" {
		names, err := dirNames(in.builtData)
		if err != nil {
			return err
		}
		in.m.DataNames = names
	}
	journal := in.m
	journal.State, journal.Temp = MarkerInstalling, []string{in.tmpWAL}
	if in.tmpData != "" {
		journal.Temp = append(journal.Temp, in.tmpData)
	}
	if in.prev != nil && in.prev.DataDir == in.dataDir {
		// Until the new data dir is in, the one at its path is the old one.
		journal.DataNames = append(slices.Clone(in.m.DataNames), in.prev.DataNames...)
	}
	if err := writeMarker(in.outDir, &journal); err != nil {
		return err
	}
	// Past this point a failure undoes what it can and puts the old
	// marker back; if undoing fails the marker keeps saying "installing".
	var undo []func() error
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				err = fmt.Errorf("%w (and undoing the install failed: %v; %s stays marked incomplete)", err, uerr, in.outDir)
				return
			}
		}
		if uerr := putMarkerBack(in.outDir, in.prev); uerr != nil {
			err = fmt.Errorf("%w (and %v)", err, uerr)
		}
	}()
	if _, lerr := os.Lstat(in.walDir); lerr == nil {
		aside := filepath.Join(in.tmpWAL, "replaced")
		if err := os.Rename(in.walDir, aside); err != nil {
			return fmt.Errorf("move the existing %s aside: %w", in.walDir, err)
		}
		undo = append(undo, func() error { return os.Rename(aside, in.walDir) })
		if err := syncDir(filepath.Dir(in.walDir)); err != nil {
			return err
		}
	}
	if in.dataDir != "" {
		undoData, err := install(in.builtData, in.dataDir, in.tmpData)
		if undoData != nil {
			undo = append(undo, undoData)
		}
		if err != nil {
			return err
		}
	}
	if installHook != nil {
		installHook()
	}
	if err := os.Rename(in.builtWAL, in.walDir); err != nil {
		return fmt.Errorf("install %s: %w", in.walDir, err)
	}
	undo = append(undo, func() error { return os.Rename(in.walDir, filepath.Join(in.tmpWAL, "undone")) })
	if err := syncDir(filepath.Dir(in.walDir)); err != nil {
		return err
	}
	done := in.m
	done.State = MarkerComplete
	return writeMarker(in.outDir, &done)
}

// install renames the finished directory built to dst, moving an existing
// dst into tmp (removed by the caller) first. undo takes the installed
// directory back out (into tmp) and puts the old one back.
func install(built, dst, tmp string) (undo func() error, err error) {
	old := ""
	_, err = os.Lstat(dst)
	switch {
	case err == nil:
		old = filepath.Join(tmp, "replaced")
		if err := os.Rename(dst, old); err != nil {
			return nil, fmt.Errorf("move the existing %s aside: %w", dst, err)
		}
		if err := os.Rename(built, dst); err != nil {
			if rbErr := os.Rename(old, dst); rbErr != nil {
				return nil, fmt.Errorf("install %s: %w (and putting the old one back failed: %v; it is in %s)", dst, err, rbErr, old)
			}
			return nil, fmt.Errorf("install %s: %w", dst, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Rename(built, dst); err != nil {
			return nil, fmt.Errorf("install %s: %w", dst, err)
		}
	default:
		return nil, fmt.Errorf("install %s: %w", dst, err)
	}
	undo = func() error {
		if err := os.Rename(dst, filepath.Join(tmp, "undone")); err != nil {
			return err
		}
		if old != "" {
			if err := os.Rename(old, dst); err != nil {
				return err
			}
		}
		return syncDir(filepath.Dir(dst))
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return undo, err
	}
	return undo, nil
}
