package segments

import (
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// maxSnapshotPath bounds a path or symlink target (Linux PATH_MAX).
const maxSnapshotPath = 4096

// Validate checks every rule of the manifest format (see snapshot.go). A
// manifest that passes names no path outside its data directory, lists
// every parent before its children, and is consistent in its sizes.
func (m SnapshotManifest) Validate() error {
	if err := m.validHead(); err != nil {
		return err
	}
	if m.RootMode&^0o777 != 0 {
		return fmt.Errorf("root mode %#o: only permission bits allowed", m.RootMode)
	}
	switch m.Source.Method {
	case MethodCommand, MethodFreeze, MethodAPI:
	default:
		return fmt.Errorf("unknown capture method %q", m.Source.Method)
	}
	types := make(map[string]FileType, len(m.Files))
	var total int64
	for i, f := range m.Files {
		if err := validFile(f, m.ChunkSize, types); err != nil {
			return fmt.Errorf("file %d (%q): %w", i, f.Path, err)
		}
		types[f.Path] = f.Type
		if total > math.MaxInt64-f.Size {
			return fmt.Errorf("file %d (%q): total size overflows", i, f.Path)
		}
		total += f.Size
	}
	if total != m.TotalSize {
		return fmt.Errorf("total size %d, but the files add up to %d", m.TotalSize, total)
	}
	return nil
}

// validHead checks the fields an encrypted manifest keeps in the clear.
func (m SnapshotManifest) validHead() error {
	if err := ValidSnapshotID(m.ID); err != nil {
		return err
	}
	switch {
	case m.Timeline == 0:
		return errors.New("timeline 0")
	case m.Time.IsZero():
		return errors.New("no capture time")
	case m.ChunkSize <= 0 || m.ChunkSize > MaxChunkSize:
		return fmt.Errorf("chunk size %d outside 1..%d", m.ChunkSize, MaxChunkSize)
	case m.TotalSize < 0:
		return fmt.Errorf("total size %d", m.TotalSize)
	}
	return nil
}

func validFile(f SnapshotFile, chunkSize int64, seen map[string]FileType) error {
	if err := ValidSnapshotPath(f.Path); err != nil {
		return err
	}
	if _, dup := seen[f.Path]; dup {
		return errors.New("listed twice")
	}
	if dir := path.Dir(f.Path); dir != "." && seen[dir] != TypeDir {
		return fmt.Errorf("parent %q is not a directory listed before it", dir)
	}
	if f.Mode&^0o777 != 0 {
		return fmt.Errorf("mode %#o: only permission bits allowed", f.Mode)
	}
	switch f.Type {
	case TypeFile:
		if f.Size < 0 || f.Size > math.MaxInt64-chunkSize {
			return fmt.Errorf("size %d", f.Size)
		}
		if want := (f.Size + chunkSize - 1) / chunkSize; int64(len(f.Chunks)) != want {
			return fmt.Errorf("%d chunks for %d bytes, want %d", len(f.Chunks), f.Size, want)
		}
		if f.SHA256.IsZero() || f.Target != "" {
			return errors.New("a file needs a SHA-256 and no target")
		}
	case TypeDir, TypeSymlink:
		if f.Size != 0 || len(f.Chunks) != 0 || !f.SHA256.IsZero() {
			return fmt.Errorf("a %s has no size, chunks or SHA-256", f.Type)
		}
		if f.Type == TypeDir && f.Target != "" {
			return errors.New("a dir has no target")
		}
		if f.Type == TypeSymlink {
			return ValidSymlinkTarget(f.Path, f.Target)
		}
	default:
		return fmt.Errorf("unknown type %q", f.Type)
	}
	return nil
}

// ValidSnapshotPath checks a snapshot entry's path: non-empty,
// slash-separated, relative and clean, valid UTF-8 without NUL, no "." or
// ".." segment, and local on this system (filepath.IsLocal).
func ValidSnapshotPath(p string) error {
	if err := validPathText(p); err != nil {
		return fmt.Errorf("path %q: %w", p, err)
	}
	if strings.HasPrefix(p, "/") || filepath.IsAbs(filepath.FromSlash(p)) {
		return fmt.Errorf("path %q: absolute", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("path %q: empty, '.' or '..' segment", p)
		}
	}
	if path.Clean(p) != p || !filepath.IsLocal(filepath.FromSlash(p)) {
		return fmt.Errorf("path %q: not a clean local path", p)
	}
	return nil
}

// ValidSymlinkTarget checks the target of a symlink at linkPath (itself a
// valid snapshot path): relative, and any ".." segments come first and climb
// at most to the data dir. "." and empty segments are allowed ("./x",
// "a//b"): they never move.
//
// Why no ".." after a name: "d/l/.." is "d" to a lexical cleaner, but if d/l
// is a symlink to "..", the system resolves it to the data dir's parent.
// Leading ".." segments climb real directories (every parent of linkPath is
// a listed dir), and every name after them is either real or a symlink that
// passed this same check, so resolution never leaves the data dir.
func ValidSymlinkTarget(linkPath, target string) error {
	if err := validPathText(target); err != nil {
		return fmt.Errorf("symlink target %q: %w", target, err)
	}
	if strings.HasPrefix(target, "/") || filepath.IsAbs(filepath.FromSlash(target)) || filepath.VolumeName(filepath.FromSlash(target)) != "" {
		return fmt.Errorf("symlink target %q: absolute, it points outside the data directory", target)
	}
	depth := strings.Count(linkPath, "/") // of the link's directory below the data dir
	named := false
	for _, seg := range strings.Split(target, "/") {
		switch {
		case seg == "" || seg == ".":
		case seg == "..":
			if named {
				return fmt.Errorf("symlink target %q: '..' after a name (could climb out through another symlink)", target)
			}
			if depth--; depth < 0 {
				return fmt.Errorf("symlink target %q: climbs out of the data directory", target)
			}
		default:
			named = true
			if !filepath.IsLocal(filepath.FromSlash(seg)) {
				return fmt.Errorf("symlink target %q: segment %q is not local here", target, seg)
			}
		}
	}
	return nil
}

func validPathText(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > maxSnapshotPath:
		return fmt.Errorf("longer than %d bytes", maxSnapshotPath)
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("contains NUL")
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8 (JSON manifests hold UTF-8 names only)")
	}
	return nil
}
