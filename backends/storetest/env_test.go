package storetest

import (
	"testing"
)

// fakeTB records whether Env skipped or failed.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skip(...any)           { f.skipped = true }
func (f *fakeTB) Fatal(...any)          { f.failed = true }
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestEnvSkipOrFail(t *testing.T) {
	const name = "WALSHIP_TEST_SURELY_UNSET_VAR"
	t.Setenv(name, "")
	for _, c := range []struct {
		ci, require string
		fail        bool
	}{{"", "", false}, {"true", "", true}, {"", "1", true}, {"false", "0", false}} {
		t.Setenv("CI", c.ci)
		t.Setenv("WALSHIP_REQUIRE_SERVERS", c.require)
		f := &fakeTB{}
		Env(f, name)
		if f.failed != c.fail || f.skipped == c.fail {
			t.Errorf("CI=%q REQUIRE=%q: failed=%v skipped=%v, want fail=%v", c.ci, c.require, f.failed, f.skipped, c.fail)
		}
	}
	t.Setenv(name, "x")
	f := &fakeTB{}
	if v := Env(f, name); v[0] != "x" || f.failed || f.skipped {
		t.Errorf("set variable: %v %+v", v, f)
	}
}
