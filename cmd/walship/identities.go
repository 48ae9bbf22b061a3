package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/walship/walship/crypt"
)

// Identities open encrypted objects. They come from files (--identity,
// repeatable, mode 0600 or stricter) and the environment
// (WALSHIP_AGE_IDENTITY), a passphrase from --passphrase-file or
// WALSHIP_PASSPHRASE; never from a flag's value or the config, so that no
// secret lands in a shell history, a process listing or a config file.
// Every source given is used: an object opens if any identity opens it.

// identityFlags are the flags of a command that opens encrypted objects.
type identityFlags struct {
	files          fileList
	passphraseFile string
}

// fileList is a repeatable flag of file paths.
type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, ",") }
func (l *fileList) Set(s string) error { *l = append(*l, s); return nil }

func addIdentityFlags(fs *flag.FlagSet) *identityFlags {
	f := &identityFlags{}
	fs.Var(&f.files, "identity", "age identity `file` (AGE-SECRET-KEY-1... lines, mode 0600) that opens encrypted segments; repeatable; also read from $"+crypt.IdentityEnv)
	fs.StringVar(&f.passphraseFile, "passphrase-file", "", "`file` (mode 0600) whose first line is the passphrase of a passphrase-encrypted store; also read from $"+crypt.PassphraseEnv)
	return f
}

// load reads every identity the flags and the environment give; none is
// not an error (a plain store needs none). A file or variable that cannot
// be used is a usage error naming it (never its content).
func (f *identityFlags) load() ([]*crypt.Identity, error) {
	var ids []*crypt.Identity
	for _, path := range f.files {
		l, err := crypt.ReadIdentityFile(path)
		if err != nil {
			return nil, usageError("--identity: %v", err)
		}
		ids = append(ids, l...)
	}
	if v, ok := os.LookupEnv(crypt.IdentityEnv); ok && strings.TrimSpace(v) != "" {
		l, err := crypt.IdentitiesFromEnv(crypt.IdentityEnv)
		if err != nil {
			return nil, usageError("%v", err)
		}
		ids = append(ids, l...)
	}
	if f.passphraseFile != "" {
		_, id, err := crypt.ReadPassphraseFile(f.passphraseFile, 0)
		if err != nil {
			return nil, usageError("--passphrase-file: %v", err)
		}
		ids = append(ids, id)
	}
	if v, ok := os.LookupEnv(crypt.PassphraseEnv); ok && v != "" {
		_, id, err := crypt.PassphraseFromEnv(crypt.PassphraseEnv, 0)
		if err != nil {
			return nil, usageError("%v", err)
		}
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		slog.Debug("identities loaded", "identities", ids) // each prints its fingerprint and source only
	}
	return ids, nil
}

// identityHint adds to an error that no identity opened an object how to
// give one; other errors are returned as they are.
func identityHint(err error) error {
	if err == nil || !errors.Is(err, crypt.ErrNoIdentity) {
		return err
	}
	var ne *crypt.NoIdentityError
	if errors.As(err, &ne) && slices.Contains(ne.Recorded, crypt.PassphraseFingerprint) {
		return fmt.Errorf("%w (with --passphrase-file FILE or %s)", err, crypt.PassphraseEnv)
	}
	return fmt.Errorf("%w (with --identity FILE or %s)", err, crypt.IdentityEnv)
}
