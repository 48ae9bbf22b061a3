package mem_test

import (
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/storetest"
)

func TestSwapConformance(t *testing.T) {
	storetest.RunSwap(t, func(*testing.T) backends.Store { return mem.New() })
}
