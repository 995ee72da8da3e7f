//go:build !linux

package selector

import "testing"

// processCPU is not measured here; benchmarks then report wall time only.
func processCPU(*testing.B) int64 { return 0 }
