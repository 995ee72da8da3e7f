//go:build kubernetes

package kubernetes_test

import (
	"testing"
	"time"

	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/testserver"
)

// The API server dies: subscribers keep the last list (nothing is sent,
// Instances answers from the cache); once it is back, the informers list
// again and a change made meanwhile arrives.
func TestAPIServerKilledAndRestarted(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxFor(t, 5*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "outage", testserver.ServicePort("http", 80, "http")))
	createPod(t, ns, testserver.Pod{Name: "outage-1", App: "outage", IPs: []string{"10.11.0.1"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	dis := newDiscovery(t, newDriver(t, ns, ""))
	ch, err := dis.Watch(ctx, "outage")
	must(t, err)
	coretest.Next(t, ch, settle, "the pod", coretest.HasAddrs("tcp@10.11.0.1:8080"))

	kube.KillAPIServer()
	// Long enough for the informers' watches to break and their relists to
	// fail a few times; what is asserted is that nothing changes meanwhile.
	outage := time.NewTimer(3 * time.Second)
	defer outage.Stop()
	select {
	case l := <-ch:
		t.Fatalf("a list was sent while the API server was down: %v", coretest.Addrs(l))
	case <-outage.C:
	}
	l, err := dis.Instances(ctx, "outage")
	must(t, err)
	if got := coretest.Addrs(l); len(got) != 1 || got[0] != "tcp@10.11.0.1:8080" {
		t.Fatalf("Instances during the outage = %v, want the last list", got)
	}

	if err := kube.RestartAPIServer(); err != nil {
		t.Fatal(err)
	}
	createPod(t, ns, testserver.Pod{Name: "outage-2", App: "outage", IPs: []string{"10.11.0.2"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	coretest.Next(t, ch, 2*settle, "the pod added after the restart", coretest.HasAddrs("tcp@10.11.0.1:8080", "tcp@10.11.0.2:8080"))
}
