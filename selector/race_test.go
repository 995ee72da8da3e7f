//go:build race

package selector

// The race detector allocates, and makes sync.Pool drop items on purpose.
const raceEnabled = true
