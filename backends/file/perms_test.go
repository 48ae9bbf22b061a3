package file_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/walship/walship/backends"
	"github.com/walship/walship/backends/file"
)

// TestModes puts nested objects under umask 0 and stats every directory
// and file of the store: owner-only by default, the configured modes
// otherwise.
func TestModes(t *testing.T) {
	old := syscall.Umask(0) // process-wide: this test is not parallel
	defer syscall.Umask(old)
	for _, tc := range []struct {
		name          string
		opt           file.Options
		dirs, regular fs.FileMode
	}{
		{"default", file.Options{}, 0o700, 0o600},
		{"group-readable", file.Options{DirMode: 0o750, FileMode: 0o640}, 0o750, 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "a", "store")
			s, err := file.OpenWith(root, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"segments/00000001/x.wseg", "chunks/ab/cd", "top"} {
				if err := s.Put(context.Background(), key, bytes.NewReader([]byte(key)), int64(len(key))); err != nil {
					t.Fatal(err)
				}
			}
			var files, dirs int
			err = filepath.WalkDir(filepath.Dir(root), func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				fi, err := os.Lstat(p)
				if err != nil {
					return err
				}
				want := tc.regular
				if fi.IsDir() {
					want = tc.dirs
					dirs++
				} else {
					files++
				}
				if fi.Mode().Perm() != want {
					t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// a/, store/, the temp dir, segments/, 00000001/, chunks/, ab/.
			if files != 3 || dirs != 7 {
				t.Fatalf("walked %d files and %d dirs, want 3 and 7", files, dirs)
			}
		})
	}
}

func TestBadModes(t *testing.T) {
	for _, o := range []file.Options{{DirMode: 0o500}, {FileMode: 0o400}, {FileMode: fs.ModeSetuid | 0o600}} {
		if _, err := file.OpenWith(t.TempDir(), o); err == nil {
			t.Errorf("OpenWith(%+v) accepted", o)
		}
	}
}

// TestMustExist: with MustExist a missing root is refused (an error,
// permanent, naming the path) and nothing is created; an existing root opens.
func TestMustExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	_, err := file.OpenWith(missing, file.Options{MustExist: true})
	if err == nil || !backends.IsPermanent(err) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such directory") {
		t.Fatalf("open of a missing root: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("the missing root was created: %v", err)
	}
	if err := os.Mkdir(missing, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := file.OpenWith(missing, file.Options{MustExist: true}); err != nil {
		t.Fatalf("open of an existing root: %v", err)
	}
}
