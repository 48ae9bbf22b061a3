package file

import "testing"

// SetListWindow sets how many entries of a directory a listing holds in
// memory, and a hook run after each sorted run of a directory is written
// to the listing's temporary file (nil: none), until t ends. Tests that
// call it must not run in parallel.
func SetListWindow(t testing.TB, window int, hook func(dir string)) {
	oldWindow, oldHook := listWindow, listRunHook
	listWindow, listRunHook = window, hook
	t.Cleanup(func() { listWindow, listRunHook = oldWindow, oldHook })
}
