// Package leaktest checks that a test leaves no goroutine behind. It wraps
// goleak with a longer grace period: goleak gives up after about 0.4 s,
// which a loaded 2-core CI machine can exceed while closed connections wind
// down. It polls instead of sleeping a fixed time, so passing tests are fast.
package leaktest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Grace is how long goroutines may take to end after the test's cleanups.
const Grace = 10 * time.Second

// Check snapshots the running goroutines and, when the test ends (after the
// cleanups registered later, which run first), fails it if new ones remain.
func Check(t testing.TB) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(Grace)
		for goleak.Find(ignore) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		goleak.VerifyNone(t, ignore)
	})
}
