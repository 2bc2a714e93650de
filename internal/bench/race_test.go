//go:build race

package bench

// raceEnabled: the race detector drops a quarter of what goes into a sync.Pool at random, so allocation
// counts under it say nothing about the relay's.
const raceEnabled = true
