package selector

import (
	"testing"

	"go.uber.org/goleak"
)

// No test may leave a goroutine behind, the fail-mode ones in particular.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
