package file

import "testing"

// SetListWindow sets how many entries of a directory a listing holds at a
// time, and a hook run between two passes over a directory (nil: none),
// until t ends. Tests that call it must not run in parallel.
func SetListWindow(t testing.TB, window int, hook func(dir string)) {
	oldWindow, oldHook := listWindow, listPassHook
	listWindow, listPassHook = window, hook
	t.Cleanup(func() { listWindow, listPassHook = oldWindow, oldHook })
}
