//go:build race

package selector

// The race detector allocates.
const raceEnabled = true
