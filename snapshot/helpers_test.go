package snapshot_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
	"github.com/walship/walship/backends/mem"
	"github.com/walship/walship/segments"
	"github.com/walship/walship/snapshot"
)

// testStore is a store and a way to damage one of its objects.
type testStore struct {
	name    string
	st      backends.Store
	corrupt func(t *testing.T, key string, offset int)
}

// eachStore runs f against a fresh mem and a fresh file store.
func eachStore(t *testing.T, f func(t *testing.T, ts testStore)) {
	t.Run("mem", func(t *testing.T) {
		st := mem.New()
		f(t, testStore{name: "mem", st: st, corrupt: func(t *testing.T, key string, off int) {
			t.Helper()
			if err := st.Corrupt(key, off); err != nil {
				t.Fatal(err)
			}
		}})
	})
	t.Run("file", func(t *testing.T) {
		st, err := file.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, testStore{name: "file", st: st, corrupt: func(t *testing.T, key string, off int) {
			t.Helper()
			p := filepath.Join(st.Root(), filepath.FromSlash(key))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x01
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}})
	})
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// describe lists a tree: for every path, its type, permission bits and
// content hash or link target; the root's permission bits under ".".
func describe(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %#o", fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink -> " + target
		default:
			out[rel] = fmt.Sprintf("file %#o size %d sha256 %s", fi.Mode().Perm(), fi.Size(), fileSHA(t, p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		// Unreadable (mode 0): hash it through a temporary permission.
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(p, 0)
		if f, err = os.Open(p); err != nil {
			t.Fatal(err)
		}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sameTree(t *testing.T, want, got string) {
	t.Helper()
	w, g := describe(t, want), describe(t, got)
	if !reflect.DeepEqual(w, g) {
		for k, v := range w {
			if g[k] != v {
				t.Errorf("%s: restored %q, source %q", k, g[k], v)
			}
		}
		for k, v := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s: restored %q, not in the source", k, v)
			}
		}
		t.FailNow()
	}
}

func keys(t *testing.T, st backends.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := st.List(context.Background(), prefix, "", func(oi backends.ObjectInfo) error {
		out = append(out, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func noManifest(t *testing.T, st backends.Store) {
	t.Helper()
	if ks := keys(t, st, segments.SnapshotsPrefix); len(ks) != 0 {
		t.Fatalf("a failed snapshot left manifests: %v", ks)
	}
}

// onlyEntries fails unless dir holds exactly the named entries.
func onlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

func opts() snapshot.Options { return snapshot.Options{Parallel: 3} }
