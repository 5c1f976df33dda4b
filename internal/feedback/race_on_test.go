//go:build race

package feedback

// raceEnabled: the race detector slows everything ~10x; timing bounds
// are scaled by slowdown.
const raceEnabled = true
