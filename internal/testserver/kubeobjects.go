//go:build kubernetes

package testserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// What a test creates in place of a kubelet and a scheduler: Nodes, Services
// with a selector, Pods bound to a Node whose status the test writes. The
// controller-manager turns them into real EndpointSlices.

// ZoneLabel is the Node label the EndpointSlice controller copies into
// each endpoint's zone.
const ZoneLabel = "topology.kubernetes.io/zone"

// RESTConfig connects to the API server with token.
func (k *Kube) RESTConfig(token string) *rest.Config {
	// Tests create objects in bursts: no client-side rate limit.
	return &rest.Config{Host: k.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: k.CA}, QPS: -1}
}

// Admin returns a clientset with the admin token.
func (k *Kube) Admin() (k8s.Interface, error) { return k8s.NewForConfig(k.RESTConfig(AdminToken)) }

// EnsureNode creates Node name in zone unless it exists. The controller
// skips pods whose Node is missing.
func EnsureNode(ctx context.Context, cs k8s.Interface, name, zone string) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone}}}
	_, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// CreateNamespace creates namespace ns.
func CreateNamespace(ctx context.Context, cs k8s.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	return err
}

// CreateService creates a Service selecting the pods labelled app=name.
func CreateService(ctx context.Context, cs k8s.Interface, ns, name string, ports ...corev1.ServicePort) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: ports},
	}
	_, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	return err
}

// ServicePort is a TCP Service port forwarding to a named container port.
func ServicePort(name string, port int32, target string) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromString(target)}
}

// Pod describes a pod a test creates.
type Pod struct {
	Name, App, Node string
	IPs             []string // the first one is status.podIP
	Ports           map[string]int32
	Ready           bool
	Annotations     map[string]string
}

// CreatePod creates the pod on its Node and writes its status (Running,
// its IPs, Ready as given), as a kubelet would.
func CreatePod(ctx context.Context, cs k8s.Interface, ns string, p Pod) error {
	c := corev1.Container{Name: "app", Image: "none"}
	for name, port := range p.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: name, ContainerPort: port})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: map[string]string{"app": p.App}, Annotations: p.Annotations},
		Spec:       corev1.PodSpec{NodeName: p.Node, Containers: []corev1.Container{c}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	return SetPodReady(ctx, cs, ns, p.Name, p.IPs, p.Ready)
}

// SetPodReady writes the pod's status: Running with ips and the Ready
// condition.
func SetPodReady(ctx context.Context, cs k8s.Interface, ns, name string, ips []string, ready bool) error {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	podIPs := make([]map[string]string, len(ips))
	for i, ip := range ips {
		podIPs[i] = map[string]string{"ip": ip}
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"phase": "Running", "podIP": ips[0], "podIPs": podIPs,
		"conditions": []map[string]any{{"type": "Ready", "status": cond}},
	}})
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("pod %s/%s status: %w", ns, name, err)
	}
	return nil
}

// StartKubeT starts a Kube for one test and stops it when the test ends,
// returning it with an admin client. Without the binaries the test is
// skipped, except under CI (CI=true), where a missing install step fails.
func StartKubeT(t testing.TB) (*Kube, k8s.Interface) {
	t.Helper()
	k, err := StartKube()
	if errors.Is(err, ErrNoKubeBinaries) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	admin, err := k.Admin()
	if err != nil {
		t.Fatal(err)
	}
	return k, admin
}

// Must returns a check that fails t with err and the servers' logs.
func (k *Kube) Must(t testing.TB) func(error) {
	return func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, k.Logs())
		}
	}
}

// CreateServiceOnNode makes the node (in zone), the namespace and the
// Service that the examples' and integrations' tests start from.
func CreateServiceOnNode(ctx context.Context, cs k8s.Interface, node, zone, ns, name string, ports ...corev1.ServicePort) error {
	if err := EnsureNode(ctx, cs, node, zone); err != nil {
		return err
	}
	if err := CreateNamespace(ctx, cs, ns); err != nil {
		return err
	}
	return CreateService(ctx, cs, ns, name, ports...)
}
