package file_test

import (
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backends.Store {
		s, err := file.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.Options{Large: true})
}
