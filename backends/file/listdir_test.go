package file_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/storetest"
)

// writeKey writes key's file below root (its content: the key), making its
// directories.
func writeKey(t testing.TB, root, key string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
}

// listKeys lists prefix after after and checks every key's size (its
// length, as writeKey wrote it) and time.
func listKeys(t *testing.T, st backends.Store, prefix, after string) []string {
	t.Helper()
	var got []string
	err := st.List(context.Background(), prefix, after, func(oi backends.ObjectInfo) error {
		if oi.Size != int64(len(oi.Key)) || oi.ModTime.IsZero() {
			return fmt.Errorf("%s: size %d, time %v", oi.Key, oi.Size, oi.ModTime)
		}
		got = append(got, oi.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("list %q after %q: %v", prefix, after, err)
	}
	return got
}

// matching returns the keys of sorted under prefix and past after.
func matching(sorted []string, prefix, after string) []string {
	var want []string
	for _, k := range sorted {
		if strings.HasPrefix(k, prefix) && k > after {
			want = append(want, k)
		}
	}
	return want
}

// A listing whose window (3 entries) is smaller than its directories, so
// that they are sorted in runs through a temporary file, gives exactly the
// keys of a whole-directory listing: directories of 0, 1, 2, 3,
// 4, 7 and 1000 files, nested directories larger than the window, a
// directory "a" beside files "a-b", "a.c" and "ab", prefixes and afters in
// the middle of a window; what a listing skips (links, fifos, names that
// are not keys, the store's temporary directory) stays skipped; fn's error
// and a cancelled context stop it, also while a directory is read.
func TestListWindow(t *testing.T) {
	root := t.TempDir()
	st, err := file.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 7))
	var keys []string
	add := func(key string) {
		writeKey(t, root, key)
		keys = append(keys, key)
	}
	for _, n := range []int{0, 1, 2, 3, 4, 7} {
		dir := fmt.Sprintf("d%d", n)
		if err := os.Mkdir(filepath.Join(root, dir), 0o700); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			add(fmt.Sprintf("%s/%c%d", dir, "zyxwvut"[i], r.IntN(100)))
		}
	}
	for range 1000 {
		add(fmt.Sprintf("big/%08X", r.Uint32()))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range []string{
		"n/a/0", "n/a/1", "n/a/2", "n/a/3", "n/a/x/y/0", "n/a/x/y/1", "n/a/x/y/2", "n/a/x/y/3", "n/a/x/y-z",
		"n/a/x.0", "n/a/x-0", "n/a-b", "n/a.c", "n/a_d/0", "n/a_d/1", "n/a_d/2", "n/a_d/3", "n/ab", "n/a-c/0",
		"n-1", "n.0", "n0", "a", "a-b/c",
	} {
		add(k)
	}
	slices.Sort(keys)
	// Entries no listing shows.
	writeKey(t, root, "n/bad~name")
	writeKey(t, root, "n/bad dir/0")
	writeKey(t, root, ".walship~tmp/put-1")
	if err := os.Symlink(filepath.Join(root, "n", "ab"), filepath.Join(root, "n", "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "n", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}

	big := matching(keys, "big/", "")
	afters := []string{"", "big/", "big/8", "d4/", "d7/", "d7/w", "n/a", "n/a/",
		"n/a/x/y/1", "n/a/x", "n/a-b", "n/a.c", "n/ab", "n0", "~"}
	prefixes := []string{"", "big/", "big/8", "d", "d0/", "d3/", "d7/", "d7/y", "n/", "n/a", "n/a/", "n/a/x/", "n/a-", "a", "zz"}
	check := func(prefix, after string) {
		t.Helper()
		if got, want := listKeys(t, st, prefix, after), matching(keys, prefix, after); !slices.Equal(got, want) {
			t.Fatalf("list %q after %q:\n got %q\nwant %q", prefix, after, got, want)
		}
	}
	for _, window := range []int{1, 2, 4, 1 << 30} {
		file.SetListWindow(t, window, nil)
		check("", big[990])
		check("n/", "n/a-b")
		check("d", "")
	}
	file.SetListWindow(t, 3, nil)
	for _, prefix := range prefixes {
		afters := afters
		if prefix == "" || strings.HasPrefix(prefix, "big/") {
			afters = []string{"", big[500], big[501] + "0", big[997], "d7/w", "n/a/"} // each listing sorts all of big/
		}
		for _, after := range afters {
			check(prefix, after)
		}
	}

	stop := errors.New("enough")
	n := 0
	err = st.List(context.Background(), "", "", func(backends.ObjectInfo) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Fatalf("fn's error after %d keys: %v, want %v itself after 10", n, err, stop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = st.List(ctx, "big/", "", func(backends.ObjectInfo) error {
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 5 {
		t.Fatalf("cancelled after 5 keys: %d keys, %v", n, err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	file.SetListWindow(t, 3, func(string) { cancel() })
	n = 0
	err = st.List(ctx, "big/", "", func(backends.ObjectInfo) error { n++; return nil })
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("cancelled while big/ is read: %d keys, %v", n, err)
	}
}

// Files and directories created and removed while a listing reads a
// directory and sorts it in runs (after each run is written), and while it
// walks the directories it read, never make a key come twice or out of
// order; every key present throughout is listed, and every key listed
// existed.
func TestListWindowChanges(t *testing.T) {
	for seed := range uint64(20) {
		root := t.TempDir()
		st, err := file.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 11))
		name := func() string {
			const chars = "0189az-._"
			for {
				b := make([]byte, 1+r.IntN(3))
				for i := range b {
					b[i] = chars[r.IntN(len(chars))]
				}
				if s := string(b); s != "." && s != ".." {
					return s
				}
			}
		}
		existed := map[string]bool{}   // every key ever written
		removable := map[string]bool{} // the keys the hook may remove
		var stable []string            // the keys present throughout
		// create writes key unless it exists or a file stands where one
		// of its directories would be, and reports whether it did.
		create := func(key string) bool {
			if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(key))); err == nil {
				return false
			}
			for d := filepath.Dir(key); d != "."; d = filepath.Dir(d) {
				if fi, err := os.Lstat(filepath.Join(root, d)); err == nil && !fi.IsDir() {
					return false
				}
			}
			writeKey(t, root, key)
			existed[key] = true
			return true
		}
		for range 40 {
			key := "s/" + name()
			if r.IntN(4) == 0 {
				key += "/" + name()
			}
			create(key)
		}
		var initial []string
		for k := range existed {
			initial = append(initial, k)
		}
		slices.Sort(initial)
		for _, k := range initial {
			if r.IntN(2) == 0 {
				removable[k] = true
			} else {
				stable = append(stable, k)
			}
		}
		file.SetListWindow(t, 1+r.IntN(4), func(string) {
			for range 1 + r.IntN(3) {
				switch r.IntN(4) {
				case 0, 1: // a file, maybe in a new directory
					key := "s/" + name()
					if r.IntN(3) == 0 {
						key += "/" + name()
					}
					if create(key) {
						removable[key] = true
					}
				case 2: // a file removed, maybe replaced by a directory
					var ks []string
					for k, ok := range removable {
						if ok {
							ks = append(ks, k)
						}
					}
					if len(ks) == 0 {
						continue
					}
					slices.Sort(ks)
					k := ks[r.IntN(len(ks))]
					if err := os.Remove(filepath.Join(root, filepath.FromSlash(k))); err != nil {
						t.Fatal(err)
					}
					removable[k] = false
					if r.IntN(2) == 0 {
						create(k + "/" + name())
					}
				case 3: // a directory removed with its files, while it may be listed
					dir := "s/" + name()
					ents, err := os.ReadDir(filepath.Join(root, dir))
					if err != nil {
						continue
					}
					for _, e := range ents {
						if k := dir + "/" + e.Name(); !removable[k] {
							ents = nil // it holds a stable key (or a directory)
							break
						}
					}
					for _, e := range ents {
						removable[dir+"/"+e.Name()] = false
					}
					if ents != nil {
						if err := os.RemoveAll(filepath.Join(root, dir)); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		})
		prefix, after := "", ""
		if seed%2 == 1 && len(stable) > 0 {
			prefix, after = "s/", stable[len(stable)/3]
		}
		got := listKeys(t, st, prefix, after)
		for i, k := range got {
			if i > 0 && k <= got[i-1] {
				t.Fatalf("seed %d: %q after %q", seed, k, got[i-1])
			}
			if !existed[k] || k <= after {
				t.Fatalf("seed %d: listed %q (after %q), never written", seed, k, after)
			}
		}
		for _, k := range matching(stable, prefix, after) {
			if _, ok := slices.BinarySearch(got, k); !ok {
				t.Fatalf("seed %d: %q, present throughout, not listed:\n%q", seed, k, got)
			}
		}
	}
}

// A listing that cannot make its temporary file (TMPDIR missing) fails
// with an error naming the directory it was sorting, rather than leaving
// keys out.
func TestListTempFail(t *testing.T) {
	root := t.TempDir()
	st, err := file.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		writeKey(t, root, fmt.Sprintf("big/%02d", i))
	}
	writeKey(t, root, "a")
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	file.SetListWindow(t, 1<<30, nil)
	if got := listKeys(t, st, "", ""); len(got) != 11 {
		t.Fatalf("sorted in memory: %q", got)
	}
	file.SetListWindow(t, 3, nil)
	var got []string
	err = st.List(context.Background(), "", "", func(oi backends.ObjectInfo) error {
		got = append(got, oi.Key)
		return nil
	})
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(root, "big")) {
		t.Fatalf("listed %q, error %v; want an error about %s", got, err, filepath.Join(root, "big"))
	}
	if !slices.Equal(got, []string{"a"}) {
		t.Fatalf("listed %q before the error, want only \"a\"", got)
	}
}

// The conformance suite passes with a window smaller than its listings
// (300 keys in one directory: 4 runs in a temporary file and 44 entries in
// memory, merged).
func TestConformanceWindow(t *testing.T) {
	file.SetListWindow(t, 64, nil)
	storetest.Run(t, func(t *testing.T) backends.Store {
		s, err := file.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.Options{ListKeys: 300})
}

// BenchmarkList lists a directory of 100,000 empty files: with the default
// window (one run in a temporary file merged with the rest in memory), and
// sorted in memory (a window larger than the directory, which holds every
// entry as a whole-directory listing does).
func BenchmarkList(b *testing.B) {
	root := b.TempDir()
	st, err := file.Open(root)
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	dir := filepath.Join(root, "segments")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%024X-%08x", i*7919%n, i)), nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name   string
		window int
	}{{"window", 0}, {"whole", 1 << 30}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.window > 0 {
				file.SetListWindow(b, bc.window, nil)
			}
			b.ReportAllocs()
			for b.Loop() {
				keys := 0
				if err := st.List(context.Background(), "segments/", "", func(backends.ObjectInfo) error { keys++; return nil }); err != nil || keys != n {
					b.Fatalf("%d keys, %v", keys, err)
				}
			}
		})
	}
}
