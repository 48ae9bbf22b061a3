package storeurl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ValidBucket applies S3's bucket naming rules: 3-63 characters of
// lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit, no "..", not shaped like an IP address.
func ValidBucket(b string) error {
	if b == "" {
		return fmt.Errorf("no bucket name (want s3://BUCKET/PREFIX)")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3-63 characters", b)
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("bucket name %q: only lowercase letters, digits, '.' and '-' are allowed", b)
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return fmt.Errorf("bucket name %q must start and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q must not contain \"..\"", b)
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return fmt.Errorf("bucket name %q must not look like an IP address", b)
	}
	return nil
}

// ValidContainer applies Azure's container naming rules: 3-63 characters of
// lowercase letters, digits and hyphens, starting and ending with a letter
// or digit, no two hyphens in a row.
func ValidContainer(c string) error {
	if c == "" {
		return fmt.Errorf("no container name (want azblob://CONTAINER/PREFIX)")
	}
	if len(c) < 3 || len(c) > 63 {
		return fmt.Errorf("container name %q must be 3-63 characters", c)
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("container name %q: only lowercase letters, digits and '-' are allowed", c)
		}
	}
	if !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return fmt.Errorf("container name %q must start and end with a letter or digit", c)
	}
	if strings.Contains(c, "--") {
		return fmt.Errorf("container name %q must not contain \"--\"", c)
	}
	return nil
}

// ValidGCSBucket applies Cloud Storage's bucket naming rules: lowercase
// letters, digits, '-', '_' and '.', starting and ending with a letter or
// digit; 3-63 characters, or up to 222 when dotted, with each dot-separated
// part at most 63; no "..", not shaped like an IP address, not starting
// with "goog" and not containing "google" (or a look-alike).
func ValidGCSBucket(b string) error {
	if b == "" {
		return fmt.Errorf("no bucket name (want gs://BUCKET/PREFIX)")
	}
	max := 63
	if strings.Contains(b, ".") {
		max = 222
	}
	if len(b) < 3 || len(b) > max {
		return fmt.Errorf("bucket name %q must be 3-63 characters (up to 222 with dots)", b)
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("bucket name %q: only lowercase letters, digits, '.', '-' and '_' are allowed", b)
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return fmt.Errorf("bucket name %q must start and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q must not contain \"..\"", b)
	}
	for _, part := range strings.Split(b, ".") {
		if len(part) > 63 {
			return fmt.Errorf("bucket name %q: each dot-separated part must be at most 63 characters", b)
		}
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return fmt.Errorf("bucket name %q must not look like an IP address", b)
	}
	if strings.HasPrefix(b, "goog") || strings.Contains(b, "google") || strings.Contains(b, "g00gle") {
		return fmt.Errorf("bucket name %q must not start with \"goog\" or contain \"google\"", b)
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// ParseSize reads a byte count: a whole number with an optional unit B, KB,
// MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. "16MiB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && !(t[i-1] >= '0' && t[i-1] <= '9') {
		i--
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB, KB, MB, GB)", s)
	}
	mult := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": 1 << 20, "mb": 1000 * 1000,
		"mib": 1 << 20, "g": 1 << 30, "gb": 1000 * 1000 * 1000, "gib": 1 << 30}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q (want KiB, MiB, GiB, KB, MB or GB)", s, unit)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}
