package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// RequireServers reports whether a store test must fail, not skip, when its
// server is not configured: in CI (CI=true) or with WALSHIP_REQUIRE_SERVERS=1.
func RequireServers() bool {
	return os.Getenv("CI") == "true" || os.Getenv("WALSHIP_REQUIRE_SERVERS") == "1"
}

// Env returns the values of the named environment variables, which
// scripts/testenv.sh sets. If any is empty the test is skipped, or fails
// when RequireServers says a skip is not allowed.
func Env(t testing.TB, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		msg := "test server not configured (" + strings.Join(missing, ", ") +
			" unset): run the tests through scripts/testenv.sh (or scripts/test.sh)"
		if RequireServers() {
			t.Fatal(msg + "; CI=true / WALSHIP_REQUIRE_SERVERS=1 forbid skipping")
		} else {
			t.Skip(msg)
		}
	}
	return vals
}

// RandomName returns a fresh lowercase name (hex) with the given prefix, for
// test buckets, containers and key prefixes on shared servers.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}
