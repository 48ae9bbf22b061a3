package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// migrateScratch prepares migrate's scratch dir (owner-only): it takes
// the dir's lock, so two migrations never share it, and removes the
// files a killed run left. The caller calls unlock.
func migrateScratch(dir string) (string, func(), error) {
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("walship-migrate-%d", os.Getuid()))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("scratch dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("scratch dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return "", nil, fmt.Errorf("scratch dir %s is in use by another walship migrate (give another with --scratch DIR): %w", dir, err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	for _, f := range old {
		os.Remove(f)
	}
	return dir, func() { lock.Close() }, nil
}
