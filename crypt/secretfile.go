package crypt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The agent keeps the store's chunk-name secret in clear in its state dir,
// because it seals with public keys only and still has to name chunks. The
// file is owner-only (0600), written once, and never shipped as is: the store
// gets it sealed in a key record.
//
//	STATE/chunk-secret (suggested name), text, mode 0600:
//	    # walship chunk-name secret, id <16 hex>: keep private; the store holds it encrypted
//	    <64 lowercase hex digits: the 32-byte secret>
//
// Any "#" line is a comment; exactly one other line must hold the secret.

// ChunkSecretFile is the suggested name of the secret file in a state dir.
const ChunkSecretFile = "chunk-secret"

// WriteChunkSecretFile writes s to path (mode 0600) create-only: it fails
// with an error wrapping fs.ErrExist if path exists, so a secret is never
// replaced. The file is complete or absent (temp file, fsync, link, fsync
// of the directory).
func WriteChunkSecretFile(path string, s *ChunkSecret) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".chunk-secret-*.tmp")
	if err != nil {
		return fmt.Errorf("write chunk secret %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write chunk secret %s: %w", path, err)
	}
	hexKey := make([]byte, hex.EncodedLen(ChunkSecretSize))
	hex.Encode(hexKey, s.key[:])
	defer clear(hexKey)
	text := "# walship chunk-name secret, id " + s.id.String() + ": keep private; the store holds it encrypted\n"
	if _, err := tmp.WriteString(text); err != nil {
		return fmt.Errorf("write chunk secret %s: %w", path, err)
	}
	if _, err := tmp.Write(append(hexKey, '\n')); err != nil {
		return fmt.Errorf("write chunk secret %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write chunk secret %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write chunk secret %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write chunk secret %s: %w (a secret is never replaced)", path, fs.ErrExist)
		}
		return fmt.Errorf("write chunk secret %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write chunk secret %s: sync dir: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write chunk secret %s: sync dir: %w", path, err)
	}
	return nil
}

// ReadChunkSecretFile reads a secret written by WriteChunkSecretFile. The
// file must be owner-only (else the error wraps ErrInsecureKeyFile); an
// absent file gives an error wrapping fs.ErrNotExist.
func ReadChunkSecretFile(path string) (*ChunkSecret, error) {
	b, err := readBounded(path, true)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	s, err := parseChunkSecret(b)
	if err != nil {
		return nil, fmt.Errorf("read chunk secret %s: %w", path, err)
	}
	return s, nil
}

func parseChunkSecret(b []byte) (*ChunkSecret, error) {
	var key []byte
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if key != nil {
			return nil, fmt.Errorf("line %d: a second secret; the file holds one", n+1)
		}
		k, err := hex.DecodeString(line)
		if err != nil || len(k) != ChunkSecretSize {
			return nil, fmt.Errorf("line %d: %w: want %d hex digits", n+1, ErrCorrupt, 2*ChunkSecretSize)
		}
		key = k
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no secret in the file", ErrCorrupt)
	}
	var k [ChunkSecretSize]byte
	copy(k[:], key)
	clear(key)
	return chunkSecretFrom(k), nil
}
