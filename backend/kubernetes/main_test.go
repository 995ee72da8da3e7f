//go:build kubernetes

package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	k8s "k8s.io/client-go/kubernetes"

	"github.com/seedforge/discovery/backend/kubernetes"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/testserver"
)

// One API server, controller-manager and etcd for the whole package: each
// start costs seconds, and the tests use namespaces of their own.
var (
	kube    *testserver.Kube
	admin   k8s.Interface
	skipWhy error
)

// Nodes the tests' pods run on; the controller copies their zones.
var nodes = map[string]string{"node-a": "zone-a", "node-b": "zone-b"}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv(envInClusterChild) != "" {
		// This binary re-run by TestInClusterConfig: it talks to the
		// parent's API server and starts none.
		skipWhy = errors.New("the in-cluster child process has no API server of its own")
		return m.Run()
	}
	k, err := testserver.StartKube()
	switch {
	case errors.Is(err, testserver.ErrNoKubeBinaries) && os.Getenv("CI") != "true":
		skipWhy = err // the tests that need the server skip, saying so
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, "kubernetes tests:", err)
		return 1
	}
	defer k.Stop()
	kube = k
	if admin, err = k.Admin(); err != nil {
		fmt.Fprintln(os.Stderr, "kubernetes tests:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, zone := range nodes {
		if err := testserver.EnsureNode(ctx, admin, name, zone); err != nil {
			fmt.Fprintln(os.Stderr, "kubernetes tests: node:", err)
			return 1
		}
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, k.Logs())
	}
	return code
}

// needKube skips the test when the binaries are not configured (never in
// CI, where TestMain fails instead).
func needKube(t testing.TB) {
	t.Helper()
	if skipWhy != nil {
		t.Skip(skipWhy)
	}
}

var nsCount atomic.Int32

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB) string {
	t.Helper()
	needKube(t)
	ns := fmt.Sprintf("t%d-%d", os.Getpid()%10000, nsCount.Add(1))
	if err := testserver.CreateNamespace(context.Background(), admin, ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

// newDriver opens a driver on ns with the admin token; pod names the Pod
// Register annotates ("" for none). Closed when the test ends.
func newDriver(t testing.TB, ns, pod string) core.Driver {
	t.Helper()
	return newDriverToken(t, ns, pod, testserver.AdminToken)
}

func newDriverToken(t testing.TB, ns, pod, token string) core.Driver {
	t.Helper()
	d, err := kubernetes.New(kubernetes.Config{REST: kube.RESTConfig(token), Namespace: ns, PodName: pod})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var (
	ctxFor = coretest.Context
	must   = coretest.Must
)

// settle bounds how long a change takes to reach a watcher: the controller
// batches and, on a loaded 2-core machine, takes seconds.
const settle = 30 * time.Second
