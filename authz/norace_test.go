//go:build !race

package authz_test

// raceEnabled is true when the race detector is on.
const raceEnabled = false
