package objio

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/walship/walship/backends"
)

// fakeCond is a store whose conditional writes behave as mode says;
// failing makes every write fail with a transient error.
type fakeCond struct {
	mode    CondMode
	failing bool
	objs    map[string][]byte
	puts    int
}

func (f *fakeCond) ops() CondOps {
	errRejected := errors.New("501 NotImplemented")
	return CondOps{
		Put: func(_ context.Context, key string, body []byte, cond bool) error {
			f.puts++
			switch {
			case f.failing:
				return errors.New("connection reset")
			case cond && f.mode == CondRejected:
				return errRejected
			case cond && f.mode == CondHonoured && f.objs[key] != nil:
				return fmt.Errorf("put %s: %w", key, backends.ErrExists)
			}
			f.objs[key] = body
			return nil
		},
		Delete:   func(_ context.Context, key string) error { delete(f.objs, key); return nil },
		Rejected: func(err error) bool { return errors.Is(err, errRejected) },
	}
}

func TestCondProbe(t *testing.T) {
	for _, m := range []CondMode{CondHonoured, CondIgnored, CondRejected} {
		f := &fakeCond{mode: m, objs: map[string][]byte{}}
		var p CondProbe
		if got := p.Mode(context.Background(), "fake", f.ops()); got != m {
			t.Errorf("probe of a store that %v conditions found %v", m, got)
		}
		puts := f.puts
		p.Mode(context.Background(), "fake", f.ops())
		if f.puts != puts {
			t.Errorf("%v: a second Mode probed again", m)
		}
		if len(f.objs) != 0 {
			t.Errorf("%v: the probe left %d objects", m, len(f.objs))
		}
	}

	// A probe that fails decides nothing, and is not repeated on every Put.
	f := &fakeCond{mode: CondHonoured, failing: true, objs: map[string][]byte{}}
	var p CondProbe
	if got := p.Mode(context.Background(), "fake", f.ops()); got != CondUnknown {
		t.Fatalf("failed probe gave %v", got)
	}
	f.failing = false
	if got := p.Mode(context.Background(), "fake", f.ops()); got != CondUnknown || f.puts != 1 {
		t.Fatalf("probe repeated at once after a failure (%v, %d puts)", got, f.puts)
	}
	p.next = time.Now().Add(-time.Second) // CondProbeRetry later
	if got := p.Mode(context.Background(), "fake", f.ops()); got != CondHonoured {
		t.Fatalf("probe after the retry delay gave %v", got)
	}
}
