//go:build kubernetes

package grpcdiscovery_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/seedforge/discovery/backend/kubernetes"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/grpcdiscovery"
	"github.com/seedforge/discovery/internal/testserver"
)

// The gRPC resolver on the kubernetes backend: a Service with two pods on a
// real API server and controller-manager; calls reach both, and only the
// ready one after the other turns unready. EndpointSlices refuse loopback
// addresses, so the pods get private IPs and the channel's dialer plays
// the pod network, sending each pod IP to its server on loopback.
func TestResolverOnKubernetes(t *testing.T) {
	leakCheck(t) // first, so that it runs after the Kube's cleanup stops it
	k, admin := testserver.StartKubeT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	must := k.Must(t)
	must(testserver.CreateServiceOnNode(ctx, admin, "node-a", "zone-a", "grpc", "echo", testserver.ServicePort("grpc", 9000, "grpc")))

	podNet := map[string]string{} // pod IP:port → loopback address
	for _, ip := range []string{"10.40.0.1", "10.40.0.2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(err)
		srv := grpc.NewServer()
		srv.RegisterService(&echoDesc, &echoServer{addr: ip})
		go srv.Serve(ln)
		t.Cleanup(srv.Stop)
		podNet[ip+":9000"] = ln.Addr().String()
		must(testserver.CreatePod(ctx, admin, "grpc", testserver.Pod{Name: "echo-" + ip[len(ip)-1:], App: "echo", Node: "node-a",
			IPs: []string{ip}, Ports: map[string]int32{"grpc": 9000}, Ready: true}))
	}
	dialer := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", podNet[addr])
	})

	d, err := kubernetes.New(kubernetes.Config{REST: k.RESTConfig(testserver.AdminToken), Namespace: "grpc"})
	must(err)
	defer d.Close()
	dis, err := core.NewDiscovery(d, core.Options{})
	must(err)
	defer dis.Close()
	conn := dial(t, dis, "discovery:///echo:grpc", grpcdiscovery.Weighted, dialer)

	seen := map[string]bool{}
	poll(t, "both pods answering", func() bool {
		who, err := call(ctx, conn)
		seen[who] = err == nil
		return seen["10.40.0.1"] && seen["10.40.0.2"]
	})
	must(testserver.SetPodReady(ctx, admin, "grpc", "echo-2", []string{"10.40.0.2"}, false))
	poll(t, "only the ready pod answering", func() bool {
		counts := spread(t, ctx, conn, 10)
		return counts["10.40.0.1"] == 10
	})
}
