package faultcheck

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// builtDir holds the walship binary testWalship built, removed by
// TestMain.
var builtDir string

func TestMain(m *testing.M) {
	code := m.Run()
	os.RemoveAll(builtDir)
	os.Exit(code)
}

// buildOnce builds this module's walship once for every test of the
// package.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "faultcheck-walship-*")
	if err != nil {
		return "", err
	}
	builtDir = dir
	bin := filepath.Join(dir, "walship")
	return bin, buildWalship(context.Background(), bin)
})

// testWalship is the walship binary the tests run: FAULTCHECK_WALSHIP, or
// this module's, built on the first call.
func testWalship(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("FAULTCHECK_WALSHIP"); bin != "" {
		return bin
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
