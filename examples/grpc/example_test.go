package main

import (
	"strings"
	"testing"

	"github.com/seedforge/discovery/internal/proctest"
)

// buildExample compiles this command, as a user's go run would, with tags.
func buildExample(t *testing.T, tags string) string {
	t.Helper()
	return proctest.Build(t, proctest.BuildOptions{Tags: tags}, "examples/grpc")["examples/grpc"]
}

// runExample runs the binary to completion and checks what it promises:
// the weighted spread, the slow server avoided, keys kept on one server,
// and no failed call through a graceful stop.
func runExample(t *testing.T, bin string, args ...string) string {
	t.Helper()
	s := proctest.Run(t, bin, args...)
	for _, want := range []string{
		"discovery_weighted, 400 calls (weights 1, 1, 2):",
		"  100 calls\n", "  200 calls\n",
		"discovery_p2c, 300 calls",
		"user-5 → ",
		" 0 failed\n",
		"failed calls: 0\n",
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "call failed") {
		t.Fatalf("a call failed:\n%s", s)
	}
	return s
}

func TestExampleInProcess(t *testing.T) {
	out := runExample(t, buildExample(t, ""))
	t.Logf("\n%s", out)
}
