package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock on dir/LOCK so two agents never share a
// state dir. The lock dies with the process, also on kill -9. It also makes
// dir (mode 0700) and LOCK (0600) owner-only, saying so in log when it had
// to.
func lockDir(dir string, log *slog.Logger) (*os.File, error) {
	if err := ownerOnly(dir, stateDirPerm, log); err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, stateFilePerm)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state dir %s is in use by another walship agent (lock %s held)", dir, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// O_CREATE's mode goes through the umask and an older LOCK keeps its
	// mode: set it explicitly.
	if err := ownerOnly(path, stateFilePerm, log); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
