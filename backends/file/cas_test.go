package file_test

import (
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/storetest"
)

func TestSwapConformance(t *testing.T) {
	storetest.RunSwap(t, func(t *testing.T) backends.Store {
		s, err := file.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
