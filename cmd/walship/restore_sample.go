package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// sampleDir is where `walship restore` writes the sample its estimate is
// measured on: a directory on the filesystem the restored log goes to
// (whose fsyncs a restore pays), never OUT_DIR itself, which a killed
// measurement would leave non-empty. It is the nearest existing directory
// above the log's; when that is OUT_DIR or inside it, OUT_DIR's parent if
// it is on the same filesystem. "" (the system's temporary directory) when
// there is none.
func sampleDir(out, walDir string) string {
	out, err := filepath.Abs(out)
	if err != nil {
		return ""
	}
	if walDir == "" {
		walDir = filepath.Join(out, "wal")
	}
	if walDir, err = filepath.Abs(walDir); err != nil {
		return ""
	}
	dir := existingAbove(walDir)
	if dir == "" {
		return ""
	}
	if dir != out && !strings.HasPrefix(dir, out+string(filepath.Separator)) {
		return dir // outside OUT_DIR
	}
	parent := filepath.Dir(out)
	if parent != out && sameFS(dir, parent) {
		return parent
	}
	return ""
}

// sameFS is sameDevice; a variable so a test can put OUT_DIR on a
// filesystem of its own.
var sameFS = sameDevice

// existingAbove is the nearest existing directory above path, or "".
func existingAbove(path string) string {
	for d := filepath.Dir(filepath.Clean(path)); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// sameDevice reports whether a and b are on the same filesystem.
func sameDevice(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}
