package crypt

import (
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
)

// Passphrase mode: objects sealed with age's scrypt recipient, opened with
// the same passphrase. Unlike X25519 it is symmetric: whoever seals can open,
// so the agent holds the secret. age runs scrypt once per sealed object
// (work factor 2^18 by default, about a second), so this mode suits few,
// large objects; see BenchmarkSealPassphrase.

// DefaultWorkFactor is the scrypt work factor (log2 N) used when 0 is given.
const DefaultWorkFactor = 18

// maxOpenWorkFactor bounds the scrypt work an object's header can ask of a
// reader (2^22: seconds, and 4 GiB of memory at most).
const maxOpenWorkFactor = 22

// PassphraseFromEnv reads a passphrase from the environment variable name
// (PassphraseEnv when ""). workFactor is log2 of scrypt's N for sealing,
// 10..22, or 0 for DefaultWorkFactor.
func PassphraseFromEnv(name string, workFactor int) (*Recipient, *Identity, error) {
	if name == "" {
		name = PassphraseEnv
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, nil, fmt.Errorf("environment variable %s: not set or empty (want a passphrase)", name)
	}
	return passphrase(v, workFactor, "environment variable "+name, "env "+name)
}

// ReadPassphraseFile reads a passphrase from a file of mode 0600 or
// stricter: its first line, without the line ending.
func ReadPassphraseFile(path string, workFactor int) (*Recipient, *Identity, error) {
	b, err := readBounded(path, true)
	if err != nil {
		return nil, nil, err
	}
	defer clear(b)
	line, _, _ := strings.Cut(string(b), "\n")
	return passphrase(strings.TrimSuffix(line, "\r"), workFactor, "passphrase file "+path, "file "+path)
}

func passphrase(p string, workFactor int, what, source string) (*Recipient, *Identity, error) {
	if p == "" {
		return nil, nil, fmt.Errorf("%s: empty passphrase", what)
	}
	if workFactor == 0 {
		workFactor = DefaultWorkFactor
	}
	if workFactor < 10 || workFactor > maxOpenWorkFactor {
		return nil, nil, fmt.Errorf("%s: scrypt work factor %d out of range 10..%d", what, workFactor, maxOpenWorkFactor)
	}
	r, err := age.NewScryptRecipient(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", what, err)
	}
	r.SetWorkFactor(workFactor)
	id, err := age.NewScryptIdentity(p)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", what, err)
	}
	id.SetMaxWorkFactor(maxOpenWorkFactor)
	return &Recipient{r: r, fp: PassphraseFingerprint},
		&Identity{id: id, fp: PassphraseFingerprint, source: source}, nil
}
