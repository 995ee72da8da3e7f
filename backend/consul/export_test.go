//go:build consul

package consul

import "testing"

// SharedAgentAddr gives the external tests (package consul_test) the shared
// agent's address; it skips (fails under CI) without a consul binary.
func SharedAgentAddr(t testing.TB) string {
	t.Helper()
	return sharedAgent(t).Addr
}
