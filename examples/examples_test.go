package examples_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/seedforge/discovery/internal/proctest"
)

func TestQuickstart(t *testing.T) {
	bins := proctest.Build(t, proctest.BuildOptions{}, "examples/quickstart")
	out := proctest.Run(t, bins["examples/quickstart"])
	for _, want := range []string{"300 calls with weighted round robin", "tps=", "failed calls: 0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}

func TestP2PAndMulti(t *testing.T) {
	bins := proctest.Build(t, proctest.BuildOptions{}, "examples/arithserver", "examples/p2p/client", "examples/multi/client")
	a, b := proctest.FreeAddr(t), proctest.FreeAddr(t)
	proctest.Start(t, bins["examples/arithserver"], "-addr", a)
	proctest.Start(t, bins["examples/arithserver"], "-addr", b)
	proctest.WaitListening(t, a)
	proctest.WaitListening(t, b)

	out := proctest.Run(t, bins["examples/p2p/client"], "-registry", "p2p://tcp@"+a, "-calls", "5")
	if !strings.Contains(out, "4 * 10 = 40 (from tcp@"+a+")") {
		t.Fatalf("p2p client output:\n%s", out)
	}
	out = proctest.Run(t, bins["examples/multi/client"], "-registry", fmt.Sprintf("multi://tcp@%s,tcp@%s", a, b), "-calls", "10")
	if !strings.Contains(out, "tcp@"+a+":5") || !strings.Contains(out, "tcp@"+b+":5") || !strings.Contains(out, "after Update to") {
		t.Fatalf("multi client output:\n%s", out)
	}
}
