package minio_test

import (
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/minio"
	"github.com/walship/walship/backends/storetest"
)

// TestSwapConformance runs the conditional-write suite against the real
// server: its race tests prove the server itself honours If-Match and
// If-None-Match (PutIf checks nothing before the request).
func TestSwapConformance(t *testing.T) {
	storetest.RunSwap(t, func(t *testing.T) backends.Store { return fresh(t, minio.Options{}) })
}
