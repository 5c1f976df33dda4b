//go:build race

package feedback

// raceEnabled: the race detector slows everything ~10x, so timing
// tests skip.
const raceEnabled = true
