package throttle

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/backends/storetest"
)

func TestSwapConformance(t *testing.T) {
	storetest.RunSwap(t, func(t *testing.T) backends.Store {
		l, err := New(Config{UploadBytesPerSec: 64 << 20, RequestsPerSec: 1e5})
		if err != nil {
			t.Fatal(err)
		}
		return NewStore(mem.New(), l, nil)
	})
}

func TestSwapUnsupportedInside(t *testing.T) {
	st := NewStore(lowStore{mem.New()}, nil, nil) // lowStore hides mem's Swapper
	sw, ok := backends.AsSwapper(st)
	if !ok {
		t.Fatal("throttled store does not offer Swapper")
	}
	if _, err := sw.PutIf(context.Background(), "k", bytes.NewReader([]byte("x")), 1, ""); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("put-if over a store without Swapper: %v, want errors.ErrUnsupported", err)
	}
	if _, _, err := sw.GetVersion(context.Background(), "k"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("get-version over a store without Swapper: %v, want errors.ErrUnsupported", err)
	}
}
