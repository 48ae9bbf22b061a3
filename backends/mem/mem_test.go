package mem_test

import (
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) backends.Store { return mem.New() }, storetest.Options{Large: true})
}
