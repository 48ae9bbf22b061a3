package gcs_test

import (
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/gcs"
	"github.com/walship/walship/backends/storetest"
)

// TestSwapConformance runs the conditional-write suite against the
// emulator: its race tests prove the service itself honours
// ifGenerationMatch (PutIf checks nothing before the request).
func TestSwapConformance(t *testing.T) {
	storetest.RunSwap(t, func(t *testing.T) backends.Store { return fresh(t, gcs.Options{}) })
}
