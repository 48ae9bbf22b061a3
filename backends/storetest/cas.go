package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/walship/walship/backends"
)

// RunSwap runs the conditional-write (backends.Swapper) conformance tests
// against stores made by newStore. A store that does not implement Swapper
// fails: call RunSwap only for stores that promise the capability.
func RunSwap(t *testing.T, newStore func(t *testing.T) backends.Store) {
	sw := func(t *testing.T) (backends.Store, backends.Swapper) {
		st := newStore(t)
		s, ok := backends.AsSwapper(st)
		if !ok {
			t.Fatalf("%s does not implement backends.Swapper", st)
		}
		return st, s
	}
	t.Run("CreateOnly", func(t *testing.T) { testSwapCreate(t, sw) })
	t.Run("ReplaceIfMatch", func(t *testing.T) { testSwapReplace(t, sw) })
	t.Run("Race", func(t *testing.T) { testSwapRace(t, sw) })
	t.Run("RaceCreate", func(t *testing.T) { testSwapRaceCreate(t, sw) })
	t.Run("BadArgs", func(t *testing.T) { testSwapBadArgs(t, sw) })
}

type swapFactory func(t *testing.T) (backends.Store, backends.Swapper)

func putIf(ctx context.Context, s backends.Swapper, key, body, match string) (string, error) {
	return s.PutIf(ctx, key, bytes.NewReader([]byte(body)), int64(len(body)), match)
}

func mustVersion(t *testing.T, s backends.Swapper, key, want string) string {
	t.Helper()
	b, v, err := s.GetVersion(context.Background(), key)
	if err != nil {
		t.Fatalf("get-version %s: %v", key, err)
	}
	if string(b) != want {
		t.Fatalf("get-version %s = %q, want %q", key, b, want)
	}
	if v == "" {
		t.Fatalf("get-version %s: empty version", key)
	}
	return v
}

func testSwapCreate(t *testing.T, sw swapFactory) {
	ctx := context.Background()
	st, s := sw(t)
	if _, _, err := s.GetVersion(ctx, "lease/x.json"); !backends.IsNotFound(err) {
		t.Fatalf("get-version of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := putIf(ctx, s, "lease/x.json", "v", "some-version"); !backends.IsConflict(err) {
		t.Fatalf("put-if with a version on a missing key: %v, want ErrConflict", err)
	}
	if _, err := st.Stat(ctx, "lease/x.json"); !backends.IsNotFound(err) {
		t.Fatalf("refused put-if left an object: stat = %v", err)
	}
	v1, err := putIf(ctx, s, "lease/x.json", "first", "")
	if err != nil || v1 == "" {
		t.Fatalf("create: version %q, %v", v1, err)
	}
	if got := mustVersion(t, s, "lease/x.json", "first"); got != v1 {
		t.Fatalf("get-version after create: version %q, put-if said %q", got, v1)
	}
	_, err = putIf(ctx, s, "lease/x.json", "second", "")
	if !backends.IsConflict(err) || !backends.IsExists(err) || !backends.IsPermanent(err) {
		t.Fatalf("second create: %v, want ErrConflict, ErrExists and permanent", err)
	}
	mustVersion(t, s, "lease/x.json", "first")
	// Plain Put keeps its promise on a key Swapper made.
	if err := st.Put(ctx, "lease/x.json", bytes.NewReader([]byte("put")), 3); !backends.IsExists(err) {
		t.Fatalf("put over a put-if object: %v, want ErrExists", err)
	}
	// A Put-made object can be swapped.
	put(t, st, "lease/y.json", []byte("made by put"))
	vy := mustVersion(t, s, "lease/y.json", "made by put")
	if _, err := putIf(ctx, s, "lease/y.json", "swapped", vy); err != nil {
		t.Fatalf("swap of a put object: %v", err)
	}
	if got := get(t, st, "lease/y.json", 0, -1); string(got) != "swapped" {
		t.Fatalf("get after swap: %q", got)
	}
}

func testSwapReplace(t *testing.T, sw swapFactory) {
	ctx := context.Background()
	st, s := sw(t)
	v1, err := putIf(ctx, s, "k.json", "one", "")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := putIf(ctx, s, "k.json", "two!", v1)
	if err != nil {
		t.Fatalf("replace with the current version: %v", err)
	}
	if v2 == v1 {
		t.Fatalf("replace kept version %q for new contents", v1)
	}
	if got := mustVersion(t, s, "k.json", "two!"); got != v2 {
		t.Fatalf("version after replace %q, put-if said %q", got, v2)
	}
	if oi, err := st.Stat(ctx, "k.json"); err != nil || oi.Size != 4 {
		t.Fatalf("stat after replace: %+v, %v", oi, err)
	}
	_, err = putIf(ctx, s, "k.json", "three", v1) // stale
	if !backends.IsConflict(err) || backends.IsExists(err) {
		t.Fatalf("replace with a stale version: %v, want ErrConflict (not ErrExists)", err)
	}
	mustVersion(t, s, "k.json", "two!")
	if err := st.Delete(ctx, "k.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := putIf(ctx, s, "k.json", "four", v2); !backends.IsConflict(err) {
		t.Fatalf("replace of a deleted object: %v, want ErrConflict", err)
	}
	if _, err := st.Stat(ctx, "k.json"); !backends.IsNotFound(err) {
		t.Fatalf("refused replace of a deleted object created it: %v", err)
	}
}

// testSwapRace: writers that all read the same version race to replace it;
// exactly one wins and the object holds its bytes. A store (or server) that
// ignores the condition lets several win.
func testSwapRace(t *testing.T, sw swapFactory) {
	const n = 8
	ctx := context.Background()
	_, s := sw(t)
	v0, err := putIf(ctx, s, "race.json", "start", "")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		errs := make([]error, n)
		vers := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				vers[i], errs[i] = putIf(ctx, s, "race.json", fmt.Sprintf("round-%d-writer-%d", round, i), v0)
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatalf("round %d: writers %d and %d both replaced version %s: the store does not honour If-Match", round, winner, i, v0)
			case !backends.IsConflict(err):
				t.Fatalf("round %d: writer %d: %v, want nil or ErrConflict", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer replaced version %s", round, v0)
		}
		if got := mustVersion(t, s, "race.json", fmt.Sprintf("round-%d-writer-%d", round, winner)); got != vers[winner] {
			t.Fatalf("round %d: version %q, the winner was told %q", round, got, vers[winner])
		}
		v0 = vers[winner]
	}
}

func testSwapRaceCreate(t *testing.T, sw swapFactory) {
	const n = 8
	_, s := sw(t)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = putIf(context.Background(), s, "create.json", fmt.Sprintf("writer-%d", i), "")
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatalf("writers %d and %d both created create.json: the store does not honour If-None-Match", winner, i)
		case !errors.Is(err, backends.ErrConflict):
			t.Fatalf("writer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created create.json")
	}
	mustVersion(t, s, "create.json", fmt.Sprintf("writer-%d", winner))
}

func testSwapBadArgs(t *testing.T, sw swapFactory) {
	ctx := context.Background()
	st, s := sw(t)
	if _, err := putIf(ctx, s, "../x", "x", ""); err == nil {
		t.Fatal("put-if of a hostile key succeeded")
	}
	big := make([]byte, backends.MaxSwapSize+1)
	if _, err := s.PutIf(ctx, "big", bytes.NewReader(big), int64(len(big)), ""); err == nil {
		t.Fatal("put-if above MaxSwapSize succeeded")
	}
	if _, err := s.PutIf(ctx, "short", bytes.NewReader([]byte("abc")), 10, ""); err == nil {
		t.Fatal("put-if of a short body succeeded")
	}
	if _, err := st.Stat(ctx, "short"); !backends.IsNotFound(err) {
		t.Fatalf("short put-if left an object: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := putIf(cctx, s, "cancelled", "x", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("put-if with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := st.Stat(ctx, "cancelled"); !backends.IsNotFound(err) {
		t.Fatalf("cancelled put-if left an object: %v", err)
	}
}
