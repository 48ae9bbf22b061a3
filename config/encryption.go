package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/walship/walship/crypt"
	"github.com/walship/walship/segments"
)

// Encryption says whom a store's segments are encrypted to: age X25519
// recipients (public keys), listed, read from a file, or both. Only public
// keys belong here: the agent encrypts and never decrypts, so identities
// (secret keys) are refused wherever a recipient is expected. There is no
// passphrase mode for the agent: age's scrypt costs about a second per
// object by design, far too slow for a segment a second.
type Encryption struct {
	Recipients     []string `yaml:"recipients" example:"[age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]"`
	RecipientsFile string   `yaml:"recipients_file" example:"/etc/walship/recipients.txt"`
}

// given says whether the section names any recipient source.
func (e *Encryption) given() bool {
	return e != nil && (len(e.Recipients) > 0 || e.RecipientsFile != "")
}

// load parses the recipients of e; at names the section for errors
// (encryption, stores[1].encryption). A secret key is refused without
// being printed.
func (e *Encryption) load(at string) ([]*crypt.Recipient, error) {
	var rs []*crypt.Recipient
	for i, text := range e.Recipients {
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		r, err := crypt.ParseRecipients([]string{text})
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // "recipient list entry 1: " would misnumber it
			}
			return nil, fmt.Errorf("%s.recipients[%d]: %w", at, i, err)
		}
		rs = append(rs, r...)
	}
	if e.RecipientsFile != "" {
		r, err := crypt.ReadRecipientsFile(e.RecipientsFile)
		if err != nil {
			return nil, fmt.Errorf("%s.recipients_file: %w", at, err)
		}
		rs = append(rs, r...)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%s: no recipients: give recipients: [age1...] or recipients_file: FILE", at)
	}
	return rs, nil
}

// Recipients are the age recipients the store's segments are encrypted
// to, or none for a plain store (checked when the config was parsed).
func (s Store) Recipients() []*crypt.Recipient { return s.recipients }

// DefaultRecipients are the top-level encryption's recipients: what a
// store given on the command line, outside the config's stores, gets.
func (c *Config) DefaultRecipients() []*crypt.Recipient { return c.recipients }

// checkEncryption resolves every store's recipients: its own encryption
// section, else the top-level one, else none; encrypt: false keeps a store
// plain. At most segments.MaxRecipients distinct recipients per store.
func (c *Config) checkEncryption() error {
	var err error
	c.recipients = nil
	if c.Encryption.given() {
		if c.recipients, err = c.Encryption.load("encryption"); err != nil {
			return err
		}
	}
	for i := range c.Stores {
		s := &c.Stores[i]
		at := fmt.Sprintf("stores[%d]", i)
		off := s.Encrypt != nil && !*s.Encrypt
		switch {
		case off && s.Encryption != nil:
			return fmt.Errorf("%s (%s): encrypt: false and an encryption section: keep one", at, s.Name)
		case off:
			s.recipients = nil
		case s.Encryption != nil:
			if s.recipients, err = s.Encryption.load(at + ".encryption"); err != nil {
				return err
			}
		default:
			s.recipients = c.recipients
		}
		if s.Encrypt != nil && *s.Encrypt && len(s.recipients) == 0 {
			return fmt.Errorf("%s (%s): encrypt: true but no recipients: add encryption: {recipients: [age1...]} at the top or to the store", at, s.Name)
		}
		if n := len(crypt.Fingerprints(s.recipients)); n > segments.MaxRecipients {
			return fmt.Errorf("%s (%s): encrypted to %d recipients, at most %d (a segment header records each)", at, s.Name, n, segments.MaxRecipients)
		}
	}
	if n := len(crypt.Fingerprints(c.recipients)); n > segments.MaxRecipients {
		return fmt.Errorf("encryption: %d recipients, at most %d (a segment header records each)", n, segments.MaxRecipients)
	}
	return nil
}
