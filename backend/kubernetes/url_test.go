//go:build kubernetes

package kubernetes_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/testserver"
)

func TestURLErrors(t *testing.T) {
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for url, want := range map[string]string{
		"k8s://a,b/echo:http":                   "one namespace",
		"k8s://user@ns/echo":                    "no user",
		"k8s://ns/Echo:http":                    "Kubernetes Service name",
		"k8s://ns/echo:http_x":                  "port name",
		"k8s://ns/echo:70000":                   "out of range",
		"k8s://ns/echo?kubeconfig=/nonexistent": "kubeconfig=",
		"k8s://ns/echo":                         "pass kubeconfig=PATH",
		"k8s://Bad_NS/echo":                     "namespace",
	} {
		_, err := discovery.Open(url)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v; want ErrInvalid mentioning %q", url, err, want)
		}
	}
}

// go-zero's URL form through discovery.Open, with a kubeconfig file and a
// context: the path's port applies to Watch("echo").
func TestOpenURLWithKubeconfig(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, 2*settle)
	must(t, testserver.CreateService(ctx, admin, ns, "echo",
		testserver.ServicePort("http", 80, "http"), testserver.ServicePort("grpc", 90, "grpc")))
	createPod(t, ns, testserver.Pod{Name: "echo-1", App: "echo", IPs: []string{"10.13.0.1"}, Ports: map[string]int32{"http": 8080, "grpc": 9000}, Ready: true})
	kc, err := kube.WriteKubeconfig("url-test.kubeconfig", testserver.AdminToken)
	must(t, err)
	c, err := discovery.OpenContext(ctx, "k8s://"+ns+"/echo:grpc?kubeconfig="+kc+"&context=test", discovery.Config{})
	must(t, err)
	defer c.Close()
	ch, err := c.Watch(ctx, "echo")
	must(t, err)
	coretest.Next(t, ch, settle, "the grpc port", coretest.HasAddrs("tcp@10.13.0.1:9000"))
	l, err := c.Instances(context.Background(), "echo:http")
	must(t, err)
	if got := coretest.Addrs(l); len(got) != 1 || got[0] != "tcp@10.13.0.1:8080" {
		t.Errorf("Instances(echo:http) = %v", got)
	}
}
