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
	if isDiskFull(err) {
		// Opening an existing LOCK allocates nothing, so it does not exist
		// yet: no agent ran here, and the spool holds nothing to ship. It
		// cannot wait all the same: the flock on it is what keeps a second
		// agent off this spool and state.json (a flock on the directory
		// would be no substitute, as an agent of an earlier version would
		// not see it), so nothing may start without it.
		return nil, stateDirFullError(dir, err, "cannot create its lock file "+path+", which keeps a second agent off it")
	}
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
