//go:build kubernetes

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/testserver"
)

func init() { buildTags = append(buildTags, "kubernetes") }

// TestKubernetes lists a Service's endpoints, with a pod's metadata
// annotation joined on, from a real API server through a kubeconfig; and
// registering outside a pod says what to set.
func TestKubernetes(t *testing.T) {
	k, admin := testserver.StartKubeT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	must := k.Must(t)
	must(testserver.CreateServiceOnNode(ctx, admin, "node-a", "zone-a", "cli", "echo", testserver.ServicePort("grpc", 9000, "grpc")))
	must(testserver.CreatePod(ctx, admin, "cli", testserver.Pod{Name: "echo-1", App: "echo", Node: "node-a", IPs: []string{"10.50.0.1"},
		Ports: map[string]int32{"grpc": 9000}, Ready: true, Annotations: map[string]string{"discovery.seedforge.io/echo": "weight=4"}}))
	url := "k8s://cli?kubeconfig=" + k.Kubeconfig()
	var last result
	waitFor(t, time.Minute, "the pod listed", func() bool {
		last = runCLI(t, "list", "--json", url, "echo:grpc")
		if last.code != 0 {
			return false
		}
		l := parseList(t, last)
		return len(l) == 1 && l[0].Addr == "tcp@10.50.0.1:9000" && l[0].Meta["weight"] == "4" && l[0].Meta["zone"] == "zone-a"
	})

	r := runCLI(t, "register", url, "echo", "tcp@10.50.0.1:9000")
	if r.code == 0 || !strings.Contains(r.stderr, "POD_NAME") {
		t.Errorf("register outside a pod: exit %d:\n%s", r.code, r.stderr)
	}
}
