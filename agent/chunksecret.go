package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/walship/walship/crypt"
)

// loadChunkSecret reads the state dir's chunk-name secret
// (STATE/chunk-secret, crypt/secretfile.go), creating it on first use: it
// names the chunks of base snapshots in every encrypted store, and each of
// those stores gets it sealed to its recipients in a key record. The file
// is never replaced (a new secret would make every chunk stored new).
//
// Like every state file, one readable by others is made owner-only first
// (logged).
func loadChunkSecret(dir string, log *slog.Logger) (*crypt.ChunkSecret, error) {
	path := filepath.Join(dir, crypt.ChunkSecretFile)
	if err := ownerOnly(path, stateFilePerm, log); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chunk secret: %w", err)
	}
	s, err := crypt.ReadChunkSecretFile(path)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chunk secret: %w (it names the chunks of encrypted stores; restore the file from a backup of the state dir, or move it away to start a new secret)", err)
	}
	if s, err = crypt.NewChunkSecret(); err != nil {
		return nil, err
	}
	if err := crypt.WriteChunkSecretFile(path, s); err != nil {
		return nil, fmt.Errorf("chunk secret: %w", err)
	}
	log.Info("chunk-name secret created for encrypted stores", "file", path, "secret", s)
	return s, nil
}
