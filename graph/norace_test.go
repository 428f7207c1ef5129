//go:build !race

package graph_test

// raceEnabled is true when the race detector is on.
const raceEnabled = false
