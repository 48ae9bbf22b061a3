package metered_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/metered"
	"github.com/walship/walship/backends/storetest"
)

func TestSwapConformance(t *testing.T) {
	storetest.RunSwap(t, func(*testing.T) backends.Store { return metered.New(mem.New()) })
}

// plain hides mem's Swapper.
type plain struct{ backends.Store }

func TestSwapUnsupportedInside(t *testing.T) {
	st := metered.New(plain{mem.New()})
	_, err := st.PutIf(context.Background(), "k", bytes.NewReader([]byte("x")), 1, "")
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("put-if through a store without Swapper: %v, want errors.ErrUnsupported", err)
	}
	if _, _, err := st.GetVersion(context.Background(), "k"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("get-version through a store without Swapper: %v, want errors.ErrUnsupported", err)
	}
	if c := st.Counts(); c.Put.Calls != 1 || c.Put.Errors != 1 || c.Get.Calls != 1 {
		t.Fatalf("counts: %+v", c)
	}
}
