//go:build mdns && linux

package mdns

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/seedforge/discovery/core"
)

// TestNoMulticastRoute: on a host whose interface has no multicast route
// (lo on a plain host), Open says so once, naming the fix, instead of a
// watch retrying "sendto: network is unreachable" forever. The check sends
// nothing; the test reruns itself inside a fresh network namespace that has
// lo up and no route at all.
func TestNoMulticastRoute(t *testing.T) {
	if os.Getenv("DISCOVERY_MDNS_NOROUTE") == "1" {
		for _, iface := range []string{"lo", ""} {
			_, err := New(Config{Interface: iface})
			if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "no route for multicast") || !strings.Contains(err.Error(), " route add ") {
				t.Errorf("New(interface=%q) = %v, want ErrInvalid naming the missing route and the fix", iface, err)
			}
		}
		return
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		t.Skipf("cannot create a network namespace here (root or CAP_SYS_ADMIN needed): %v", err)
	}
	cmd := exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up 2>/dev/null; exec "$0" -test.run='^TestNoMulticastRoute$' -test.count=1`, os.Args[0])
	cmd.Env = append(os.Environ(), "DISCOVERY_MDNS_NOROUTE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("inside a namespace without a multicast route: %v\n%s", err, out)
	}
}
