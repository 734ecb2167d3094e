//go:build race

package historysync

// raceEnabled is true when the race detector is on.
const raceEnabled = true
