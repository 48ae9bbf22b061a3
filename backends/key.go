package backends

import (
	"fmt"
	"strings"
)

// MaxKeyLen bounds a key so every service accepts it (S3 allows 1024 bytes
// including the prefix).
const MaxKeyLen = 512

// ProbePrefix is where a remote store writes the object that tests its
// service's conditional creates on its first Put: probe/<32 hex digits>,
// deleted by the probe itself (only a crash between its writes and its
// delete leaves one: a few bytes walship never reads and copy skips).
const ProbePrefix = "probe/"

// ValidKey checks that key is a safe relative object key: non-empty,
// slash-separated segments of [A-Za-z0-9._-], no empty, "." or ".." segment,
// no leading or trailing slash. Keys that pass map safely onto file paths.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("invalid object key %q: length must be 1..%d", key, MaxKeyLen)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("invalid object key %q: empty, '.' or '..' segment", key)
		}
		for _, c := range seg {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '.' || c == '_' || c == '-'
			if !ok {
				return fmt.Errorf("invalid object key %q: character %q not allowed", key, c)
			}
		}
	}
	return nil
}

// ValidPrefix checks a listing prefix: empty, or a ValidKey optionally
// followed by a slash.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("invalid prefix %q: %w", prefix, err)
	}
	return nil
}
