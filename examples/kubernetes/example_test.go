//go:build kubernetes

// Package main's test runs the example as a user would, against a real
// kube-apiserver and kube-controller-manager: a Service with one pod, the
// example serving "in" that pod (POD_NAME set as the downward API would),
// and the example watching from outside with a kubeconfig.
package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/proctest"
	"github.com/seedforge/discovery/internal/testserver"
)

func TestExample(t *testing.T) {
	k, admin := testserver.StartKubeT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	must := k.Must(t)
	must(testserver.CreateServiceOnNode(ctx, admin, "node-a", "zone-a", "demo", "echo", testserver.ServicePort("grpc", 9000, "grpc")))
	must(testserver.CreatePod(ctx, admin, "demo", testserver.Pod{Name: "echo-1", App: "echo", Node: "node-a", IPs: []string{"10.20.0.1"}, Ports: map[string]int32{"grpc": 9000}, Ready: true}))

	bin := proctest.Build(t, proctest.BuildOptions{Tags: "kubernetes"}, "examples/kubernetes")["examples/kubernetes"]
	registry := "k8s://demo/echo:grpc?kubeconfig=" + k.Kubeconfig()
	srv := startInPod(t, bin, "echo-1", "demo", "-serve", "127.0.0.1:0", "-registry", registry, "-meta", "weight=7", "-drain", "0s")

	watchUntil(t, bin, registry, "tcp@10.20.0.1:9000 node=node-a pod=echo-1 weight=7 zone=zone-a")
	if err := srv.Stop(t); err != nil {
		t.Fatalf("server exit: %v\n%s", err, srv.Output())
	}
	if !strings.Contains(srv.Output(), "marked inactive") {
		t.Fatalf("server output:\n%s", srv.Output())
	}
	// Drained: the pod is still ready and listed, but inactive.
	watchUntil(t, bin, registry, "echo:grpc: 0 instance(s)")
	out := proctest.Run(t, bin, "-registry", registry, "-n", "1", "-all")
	if !strings.Contains(out, "tcp@10.20.0.1:9000 node=node-a pod=echo-1 state=inactive zone=zone-a") {
		t.Fatalf("with -all:\n%s", out)
	}
}

func startInPod(t *testing.T, bin, pod, ns string, args ...string) *proctest.Proc {
	t.Helper()
	t.Setenv("POD_NAME", pod)
	t.Setenv("POD_NAMESPACE", ns)
	p := proctest.Start(t, bin, args...)
	os.Unsetenv("POD_NAME")
	os.Unsetenv("POD_NAMESPACE")
	return p
}

// watchUntil runs the watch mode for one list until its output holds want.
func watchUntil(t *testing.T, bin, registry, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out := proctest.Run(t, bin, "-registry", registry, "-n", "1")
		if strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within a minute; last output:\n%s", want, out)
		}
	}
}
