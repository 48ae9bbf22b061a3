//go:build race

package e2e

// raceEnabled: the tests run with -race, so the walship binary they start
// is built with -race too, and a data race in it fails the run (exit 66).
const raceEnabled = true
