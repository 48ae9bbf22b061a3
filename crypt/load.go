package crypt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
)

// IdentityEnv is the environment variable that holds identities when no
// identity file is given: one "AGE-SECRET-KEY-1..." per line.
const IdentityEnv = "WALSHIP_AGE_IDENTITY"

// PassphraseEnv is the environment variable that holds a passphrase.
const PassphraseEnv = "WALSHIP_PASSPHRASE"

// maxKeyFile bounds what is read from a key file or variable.
const maxKeyFile = 1 << 20

// ParseRecipients parses X25519 recipients ("age1...") from a config list.
// Blank entries and entries starting with "#" are skipped; at least one
// recipient is required. Errors name the entry by its position (public keys
// are not secret, but a mistyped secret key pasted here must not be echoed).
func ParseRecipients(list []string) ([]*Recipient, error) {
	return parseRecipientLines(list, "recipient list", "entry")
}

// ReadRecipientsFile reads X25519 recipients from a file: one per line,
// blank lines and lines starting with "#" ignored.
func ReadRecipientsFile(path string) ([]*Recipient, error) {
	b, err := readBounded(path, false)
	if err != nil {
		return nil, err
	}
	return parseRecipientLines(strings.Split(string(b), "\n"), "recipients file "+path, "line")
}

func parseRecipientLines(lines []string, what, unit string) ([]*Recipient, error) {
	var rs []*Recipient
	for n, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s %s %d: %w", what, unit, n+1, err)
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%s: no recipients (want one \"age1...\" public key per %s)", what, unit)
	}
	return rs, nil
}

func parseRecipient(s string) (*Recipient, error) {
	switch {
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"):
		return nil, errors.New("this is a secret key, not a recipient: give its public key (age1...), and keep the secret key off the agent")
	case !strings.HasPrefix(s, "age1") || strings.HasPrefix(s, "age1pq1"):
		return nil, errors.New("not an age X25519 recipient (want \"age1...\")")
	}
	x, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, errors.New("malformed age X25519 recipient (bad checksum or length)")
	}
	return newX25519Recipient(x), nil
}

// ReadIdentityFile reads X25519 identities from a file: one
// "AGE-SECRET-KEY-1..." per line, blank lines and "#" comments ignored (the
// format age's key generator writes). The file must be readable by its
// owner only (mode 0600 or stricter): a looser mode is refused with an error
// naming the file and its mode, wrapping ErrInsecureKeyFile.
func ReadIdentityFile(path string) ([]*Identity, error) {
	b, err := readBounded(path, true)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return parseIdentityLines(b, "identity file "+path, "file "+path)
}

// IdentitiesFromEnv reads identities from the environment variable name
// (IdentityEnv when name is ""), in the same form as an identity file.
func IdentitiesFromEnv(name string) ([]*Identity, error) {
	if name == "" {
		name = IdentityEnv
	}
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("environment variable %s: not set or empty (want one AGE-SECRET-KEY-1... per line)", name)
	}
	if len(v) > maxKeyFile {
		return nil, fmt.Errorf("environment variable %s: longer than %d bytes", name, maxKeyFile)
	}
	return parseIdentityLines([]byte(v), "environment variable "+name, "env "+name)
}

func parseIdentityLines(b []byte, what, source string) ([]*Identity, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%s: not UTF-8 text", what)
	}
	var ids []*Identity
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Never put line in an error: it may be a secret.
		if !strings.HasPrefix(line, "AGE-SECRET-KEY-1") {
			return nil, fmt.Errorf("%s line %d: not an age X25519 identity (want \"AGE-SECRET-KEY-1...\")", what, n)
		}
		x, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: malformed age identity (bad checksum or length)", what, n)
		}
		ids = append(ids, newX25519Identity(x, fmt.Sprintf("%s line %d", source, n)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no identities (want one AGE-SECRET-KEY-1... per line)", what)
	}
	return ids, nil
}

// readBounded reads a small file; with secret it first checks, on the open
// file, that group and others have no access.
func readBounded(path string, secret bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	if secret {
		if err := checkPrivate(f, path); err != nil {
			return nil, err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("read key file %s: longer than %d bytes", path, maxKeyFile)
	}
	return b, nil
}

func checkPrivate(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("key file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("key file %s has mode %04o: %w; it must be readable by its owner only (chmod 600 %s)",
			path, perm, ErrInsecureKeyFile, path)
	}
	return nil
}
