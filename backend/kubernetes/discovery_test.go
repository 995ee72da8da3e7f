//go:build kubernetes

package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/testserver"
)

func newDiscovery(t testing.TB, d core.Driver) core.Discovery {
	t.Helper()
	dis, err := core.NewDiscovery(d, core.Options{})
	must(t, err)
	t.Cleanup(func() { dis.Close() })
	return dis
}

func createPod(t testing.TB, ns string, p testserver.Pod) {
	t.Helper()
	if p.Node == "" {
		p.Node = "node-a"
	}
	must(t, testserver.CreatePod(context.Background(), admin, ns, p))
}

func setReady(t testing.TB, ns, name, ip string, ready bool) {
	t.Helper()
	must(t, testserver.SetPodReady(context.Background(), admin, ns, name, []string{ip}, ready))
}

func TestZoneNodeAndPodIntoMetadata(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 2*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "echo", testserver.ServicePort("http", 80, "http")))
	createPod(t, ns, testserver.Pod{Name: "echo-1", App: "echo", Node: "node-a", IPs: []string{"10.1.0.1"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	createPod(t, ns, testserver.Pod{Name: "echo-2", App: "echo", Node: "node-b", IPs: []string{"10.1.0.2"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	ch, err := newDiscovery(t, newDriver(t, ns, "")).Watch(ctx, "echo")
	must(t, err)
	got := coretest.Next(t, ch, settle, "both pods", coretest.HasAddrs("tcp@10.1.0.1:8080", "tcp@10.1.0.2:8080"))
	for i, want := range []core.Metadata{
		{"zone": "zone-a", "node": "node-a", "pod": "echo-1"},
		{"zone": "zone-b", "node": "node-b", "pod": "echo-2"},
	} {
		if fmt.Sprint(got[i].Meta) != fmt.Sprint(want) {
			t.Errorf("%s meta %v, want %v", got[i].Addr, got[i].Meta, want)
		}
	}
}

// More than 100 endpoints: the controller splits them over several slices,
// and a change in one slice must not hide the others.
func TestManySlicesMerged(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 4*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "big", testserver.ServicePort("http", 80, "http")))
	const n = 120
	var want []string
	for i := range n {
		ip := fmt.Sprintf("10.2.%d.%d", i/200, 1+i%200)
		createPod(t, ns, testserver.Pod{Name: fmt.Sprintf("big-%d", i), App: "big", IPs: []string{ip}, Ports: map[string]int32{"http": 8080}, Ready: true})
		want = append(want, "tcp@"+ip+":8080")
	}
	slices.Sort(want)
	ch, err := newDiscovery(t, newDriver(t, ns, "")).Watch(ctx, "big")
	must(t, err)
	coretest.Next(t, ch, 2*settle, "all 120 endpoints", coretest.HasAddrs(want...))
	sl, err := admin.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=big"})
	must(t, err)
	if len(sl.Items) < 2 {
		t.Fatalf("%d slice(s): the test needs the controller to split the endpoints", len(sl.Items))
	}
	// One pod turns unready: its slice changes alone; the list keeps the rest.
	setReady(t, ns, "big-7", "10.2.0.8", false)
	coretest.Next(t, ch, settle, "119 endpoints", coretest.HasAddrs(slices.DeleteFunc(slices.Clone(want), func(a string) bool { return a == "tcp@10.2.0.8:8080" })...))
}

func TestPodUnreadyAndReadyAgain(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 4*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "flap", testserver.ServicePort("http", 80, "http")))
	createPod(t, ns, testserver.Pod{Name: "flap-1", App: "flap", IPs: []string{"10.3.0.1"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	createPod(t, ns, testserver.Pod{Name: "flap-2", App: "flap", IPs: []string{"10.3.0.2"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	ch, err := newDiscovery(t, newDriver(t, ns, "")).Watch(ctx, "flap")
	must(t, err)
	coretest.Next(t, ch, settle, "both", coretest.HasAddrs("tcp@10.3.0.1:8080", "tcp@10.3.0.2:8080"))
	setReady(t, ns, "flap-2", "10.3.0.2", false)
	coretest.Next(t, ch, settle, "the unready pod left", coretest.HasAddrs("tcp@10.3.0.1:8080"))
	setReady(t, ns, "flap-2", "10.3.0.2", true)
	coretest.Next(t, ch, settle, "the pod back", coretest.HasAddrs("tcp@10.3.0.1:8080", "tcp@10.3.0.2:8080"))
}

// A Service with two ports: by name, by the pods' port number, and no port
// at all, which must say which ports there are.
func TestPortByNameAndNumber(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 2*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "two",
		testserver.ServicePort("http", 80, "http"), testserver.ServicePort("grpc", 90, "grpc")))
	createPod(t, ns, testserver.Pod{Name: "two-1", App: "two", IPs: []string{"10.4.0.1"}, Ports: map[string]int32{"http": 8080, "grpc": 9000}, Ready: true})
	d := newDriver(t, ns, "")
	dis := newDiscovery(t, d)
	for svc, want := range map[string]string{"two:grpc": "tcp@10.4.0.1:9000", "two:http": "tcp@10.4.0.1:8080", "two:9000": "tcp@10.4.0.1:9000"} {
		ch, err := dis.Watch(ctx, svc)
		must(t, err)
		got := coretest.Next(t, ch, settle, svc, coretest.HasAddrs(want))
		if got[0].Service != svc {
			t.Errorf("Service %q, want %q", got[0].Service, svc)
		}
	}
	_, err := d.List(ctx, "two")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "grpc=9000, http=8080") {
		t.Errorf("List without a port on a two-port service: %v; want ErrInvalid naming both ports", err)
	}
	_, err = d.List(ctx, "two:80")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "target port") {
		t.Errorf("List by the Service's port number: %v; want ErrInvalid explaining target ports", err)
	}
	if _, err := dis.Watch(ctx, "Two"); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Watch of an invalid Service name: %v, want ErrInvalid", err)
	}
}

func TestDualStack(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 2*settle)
	policy := corev1.IPFamilyPolicyRequireDualStack
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "dual"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "dual"}, IPFamilyPolicy: &policy,
			Ports: []corev1.ServicePort{testserver.ServicePort("http", 80, "http")}},
	}
	_, err := admin.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	must(t, err)
	createPod(t, ns, testserver.Pod{Name: "dual-1", App: "dual", IPs: []string{"10.5.0.1", "fd00:5::1"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	ch, err := newDiscovery(t, newDriver(t, ns, "")).Watch(ctx, "dual")
	must(t, err)
	coretest.Next(t, ch, settle, "both families", coretest.HasAddrs("tcp@10.5.0.1:8080", "tcp@[fd00:5::1]:8080"))
}
