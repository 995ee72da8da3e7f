//go:build kubernetes

package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/seedforge/discovery/core"
)

func ptr[T any](v T) *T { return &v }

func slice(ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{Ports: ports, Endpoints: eps}
}

func port(name string, n int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(n), Protocol: ptr(corev1.ProtocolTCP)}
}

func ep(ready *bool, pod string, addrs ...string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}}
}

// Which endpoints count: ready or unknown; not unready, whether serving or
// terminating; each address once even when a pod is in two slices.
func TestInstancesReadiness(t *testing.T) {
	terminating := ep(ptr(false), "c", "10.0.0.3")
	terminating.Conditions.Serving, terminating.Conditions.Terminating = ptr(true), ptr(true)
	list := []*discoveryv1.EndpointSlice{
		slice([]discoveryv1.EndpointPort{port("http", 8080)}, ep(ptr(true), "a", "10.0.0.1"), ep(nil, "b", "10.0.0.2"), terminating),
		slice([]discoveryv1.EndpointPort{port("http", 8080)}, ep(ptr(true), "a", "10.0.0.1")),
	}
	got, err := instances(target{service: "s", name: "s"}, list, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(addrs(got)) != "[tcp@10.0.0.1:8080 tcp@10.0.0.2:8080]" {
		t.Errorf("got %v", addrs(got))
	}
}

func TestInstancesAnnotationJoin(t *testing.T) {
	a := ep(ptr(true), "a", "10.0.0.1")
	a.Zone = ptr("zone-a")
	list := []*discoveryv1.EndpointSlice{slice([]discoveryv1.EndpointPort{port("", 80)}, a, ep(ptr(true), "b", "10.0.0.2"))}
	pods := map[string]map[string]string{
		"a": {AnnotationPrefix + "s": "weight=3&zone=wrong", AnnotationPrefix + "other": "weight=9"},
		"b": {AnnotationPrefix + "s": "%zz"},
	}
	var bad []string
	got, err := instances(target{service: "s:80", name: "s", port: "80"}, list,
		func(p string) map[string]string { return pods[p] }, func(p, v string) { bad = append(bad, p+"="+v) })
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Meta.Weight() != 3 || got[0].Meta["zone"] != "zone-a" || got[0].Meta["pod"] != "a" || got[0].Service != "s:80" {
		t.Errorf("a: %+v", got[0])
	}
	if got[1].Meta.Weight() != 1 || fmt.Sprint(bad) != "[b=%zz]" {
		t.Errorf("b: %+v, bad %v", got[1], bad)
	}
}

func TestPortErrors(t *testing.T) {
	list := []*discoveryv1.EndpointSlice{slice([]discoveryv1.EndpointPort{port("http", 8080), port("grpc", 9000)}, ep(nil, "a", "10.0.0.1"))}
	for _, c := range []struct{ port, want string }{
		{"", "has 2 ports (grpc=9000, http=8080): name one"},
		{"80", "no endpoint port 80"},
		{"metrics", "no endpoint port metrics"},
	} {
		_, err := instances(target{service: "s", name: "s", port: c.port}, list, nil, nil)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("port %q: %v, want %q", c.port, err, c.want)
		}
	}
	got, err := instances(target{service: "s", name: "s", port: "grpc"}, list, nil, nil)
	if err != nil || fmt.Sprint(addrs(got)) != "[tcp@10.0.0.1:9000]" {
		t.Errorf("grpc: %v %v", addrs(got), err)
	}
}

func addrs(l []core.Instance) []string {
	var out []string
	for _, i := range l {
		out = append(out, i.Addr)
	}
	return out
}
