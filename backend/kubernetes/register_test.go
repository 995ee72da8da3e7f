//go:build kubernetes

package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seedforge/discovery/backend/kubernetes"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/testserver"
)

// The conformance suite's parts that apply: Kubernetes decides membership,
// so the suite sees it as a backend with a list it does not register into
// (TTL 0); Update creates and deletes Pods the way a Deployment would.
func TestConformance(t *testing.T) {
	needKube(t)
	ns := newNamespace(t)
	ctx := context.Background()
	const svc = "conformance"
	must(t, testserver.CreateService(ctx, admin, ns, svc, testserver.ServicePort("p", 80, "p")))
	// The pod whose annotations Register writes: it is no endpoint of the
	// service, so registering changes nothing there, as the suite expects.
	createPod(t, ns, testserver.Pod{Name: "self", App: "other", IPs: []string{"10.9.9.9"}, Ready: true})
	var mu sync.Mutex
	update := func(t testing.TB, _ core.Driver, list []core.Instance) {
		mu.Lock()
		defer mu.Unlock()
		reconcilePods(t, ns, svc, list)
	}
	static := []core.Instance{{Service: svc, Addr: "tcp@10.6.0.1:8080"}, {Service: svc, Addr: "tcp@10.6.0.2:8081"}}
	// Each client starts from the static list, as with a fixed-list backend:
	// the pods a previous test's Update left are replaced, and the client is
	// handed out once the controller has published them.
	newDriverOnStatic := func(t testing.TB) core.Driver {
		update(t, nil, static)
		d := newDriver(t, ns, "self")
		coretest.Poll(t, settle, "the static list published", func() error {
			l, err := d.List(context.Background(), svc)
			if err != nil {
				return err
			}
			got := coretest.Addrs(l)
			slices.Sort(got)
			if !slices.Equal(got, coretest.Addrs(static)) {
				return fmt.Errorf("instances %v, want %v", got, coretest.Addrs(static))
			}
			return nil
		})
		return d
	}
	coretest.Run(t, coretest.Harness{
		NewDriver:  newDriverOnStatic,
		Static:     static,
		Update:     update,
		UpdateAddr: func(i int) string { return fmt.Sprintf("tcp@10.7.0.%d:%d", i+1, 20000+i) },
		Settle:     settle,
	})
}

// reconcilePods makes the ready pods of app exactly list: one pod per
// address, its container port "p" at the address's port.
func reconcilePods(t testing.TB, ns, app string, list []core.Instance) {
	t.Helper()
	ctx := context.Background()
	want := map[string]core.Instance{}
	for _, in := range list {
		want[podName(in.Addr)] = in
	}
	pods, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	must(t, err)
	for _, p := range pods.Items {
		if _, ok := want[p.Name]; ok {
			delete(want, p.Name)
			continue
		}
		zero := int64(0)
		if err := admin.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	for name, in := range want {
		host, port, err := net.SplitHostPort(in.HostPort())
		must(t, err)
		var n int32
		fmt.Sscan(port, &n)
		createPod(t, ns, testserver.Pod{Name: name, App: app, IPs: []string{host}, Ports: map[string]int32{"p": n}, Ready: true})
	}
}

func podName(addr string) string {
	return "p-" + strings.NewReplacer("tcp@", "", ".", "-", ":", "-").Replace(addr)
}

// Register annotates the process's Pod; discovery joins the metadata onto
// its endpoint; Close marks it inactive, which subscribers see while the
// pod is still ready and listed, before anyone deletes it.
func TestRegisterMetadataAndDrainOnClose(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 3*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "api", testserver.ServicePort("http", 80, "http")))
	createPod(t, ns, testserver.Pod{Name: "api-1", App: "api", IPs: []string{"10.8.0.1"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	createPod(t, ns, testserver.Pod{Name: "api-2", App: "api", IPs: []string{"10.8.0.2"}, Ports: map[string]int32{"http": 8080}, Ready: true})

	dis := newDiscovery(t, newDriver(t, ns, ""))
	active, err := dis.Watch(ctx, "api")
	must(t, err)
	all, err := dis.Watch(ctx, "api", core.IncludeInactive())
	must(t, err)
	coretest.Next(t, active, settle, "both pods", coretest.HasAddrs("tcp@10.8.0.1:8080", "tcp@10.8.0.2:8080"))

	// The server in pod api-1 registers with its metadata.
	reg, err := core.NewRegistrar(newDriver(t, ns, "api-1"), core.Options{})
	must(t, err)
	must(t, reg.Register(ctx, core.Instance{Service: "api", Addr: "tcp@10.8.0.1:8080", Meta: core.Metadata{"weight": "5", "group": "blue"}}))
	got := coretest.Next(t, active, settle, "weight 5 on api-1", func(l []core.Instance) bool {
		return len(l) == 2 && l[0].Meta.Weight() == 5 && l[0].Meta["group"] == "blue"
	})
	if got[0].Meta["pod"] != "api-1" || got[1].Meta.Weight() != 1 {
		t.Errorf("metadata %v / %v: want api-1's on api-1 only", got[0].Meta, got[1].Meta)
	}

	// Close drains: the subscriber loses api-1 while the pod is still ready.
	must(t, reg.Close())
	coretest.Next(t, active, settle, "api-1 drained", coretest.HasAddrs("tcp@10.8.0.2:8080"))
	coretest.Next(t, all, settle, "api-1 inactive, still listed", func(l []core.Instance) bool {
		return len(l) == 2 && l[0].Meta.Inactive()
	})
	pod, err := admin.CoreV1().Pods(ns).Get(ctx, "api-1", metav1.GetOptions{})
	must(t, err)
	if pod.DeletionTimestamp != nil {
		t.Fatal("the pod is being deleted already: the drain must come first")
	}
	if v := pod.Annotations[kubernetes.AnnotationPrefix+"api"]; v != "state=inactive" {
		t.Errorf("annotation after Close = %q, want state=inactive only", v)
	}
	// Then Kubernetes takes it away.
	must(t, admin.CoreV1().Pods(ns).Delete(ctx, "api-1", metav1.DeleteOptions{}))
	coretest.Next(t, all, settle, "api-1 gone", coretest.HasAddrs("tcp@10.8.0.2:8080"))
}

func TestRegisterOutsideAPodFailsAtOnce(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	reg, err := core.NewRegistrar(newDriver(t, ns, ""), core.Options{})
	must(t, err)
	defer reg.Close()
	start := time.Now()
	err = reg.Register(ctxFor(t, time.Minute), core.Instance{Service: "api", Addr: "tcp@10.0.0.1:1"})
	if !errors.Is(err, core.ErrInvalid) || !errors.Is(err, kubernetes.ErrNotInPod) || !strings.Contains(err.Error(), "POD_NAME") {
		t.Fatalf("Register outside a pod: %v; want ErrInvalid + ErrNotInPod naming POD_NAME", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v: it must fail without retrying", time.Since(start))
	}
}

// A token without permissions gets errors that name what to grant; with the
// Role the docs give, the same token works.
func TestRBACRestrictedToken(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 3*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "rbac", testserver.ServicePort("http", 80, "http")))
	createPod(t, ns, testserver.Pod{Name: "rbac-1", App: "rbac", IPs: []string{"10.10.0.1"}, Ports: map[string]int32{"http": 8080}, Ready: true})

	d := newDriverToken(t, ns, "rbac-1", testserver.RestrictedToken)
	_, err := d.List(ctx, "rbac")
	wantForbidden(t, "List", err, "list", "endpointslices", ns)
	err = d.Put(ctx, core.Instance{Service: "rbac", Addr: "tcp@10.10.0.1:8080"}, time.Second)
	wantForbidden(t, "Put", err, "patch", "pods", ns)
	w, err := d.Watch(ctx, "rbac")
	must(t, err)
	_, err = w.Next(ctx)
	w.Close()
	wantForbidden(t, "Watch", err, "list/watch", "", ns)

	grantMinimalRole(t, ns, testserver.RestrictedUser)
	dis := newDiscovery(t, d)
	coretest.Poll(t, settle, "the Role in effect", func() error { _, err := d.List(ctx, "rbac"); return err })
	ch, err := dis.Watch(ctx, "rbac")
	must(t, err)
	must(t, d.Put(ctx, core.Instance{Service: "rbac", Addr: "tcp@10.10.0.1:8080", Meta: core.Metadata{"weight": "3"}}, time.Second))
	coretest.Next(t, ch, settle, "the endpoint with its metadata", func(l []core.Instance) bool {
		return len(l) == 1 && l[0].Meta.Weight() == 3
	})
}

func wantForbidden(t *testing.T, call string, err error, verb, resource, ns string) {
	t.Helper()
	if !errors.Is(err, kubernetes.ErrForbidden) {
		t.Fatalf("%s with a restricted token: %v; want ErrForbidden", call, err)
	}
	for _, s := range []string{verb, resource, ns} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: %q does not name %q", call, err, s)
		}
	}
}
