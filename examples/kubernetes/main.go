//go:build kubernetes

// Command kubernetes shows the kubernetes backend from both sides.
//
// Serve mode, inside a pod (deploy/echo.yaml): answers HTTP, registers its
// metadata on its own Pod (POD_NAME, POD_NAMESPACE from the downward API),
// and on SIGTERM marks itself inactive first, so clients drain it while the
// pod is still listed, then exits after -drain:
//
//	kubernetes -serve :9000 -registry k8s:///echo:grpc -meta weight=2
//
// Watch mode, anywhere with a kubeconfig: prints the Service's instances
// each time they change (-n 1: once):
//
//	go run -tags kubernetes ./examples/kubernetes -registry 'k8s://default/echo:grpc?kubeconfig=/root/.kube/config'
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
)

func main() {
	registry := flag.String("registry", "k8s:///echo:grpc", "k8s://namespace/service:port (options: kubeconfig=, context=)")
	serve := flag.String("serve", "", "serve HTTP on this address and register (serve mode)")
	meta := flag.String("meta", "", "metadata to register, a query string: weight=2&group=blue")
	drain := flag.Duration("drain", 5*time.Second, "serve mode: time between marking inactive and exiting")
	n := flag.Int("n", 0, "watch mode: lists to print before exiting (0: until Ctrl-C)")
	all := flag.Bool("all", false, "watch mode: include inactive instances")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	if *serve != "" {
		err = runServer(ctx, *registry, *serve, *meta, *drain)
	} else {
		err = runWatch(ctx, *registry, *n, *all)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubernetes:", err)
		os.Exit(1)
	}
}

// service is the service part of the URL path: "echo:grpc" from
// k8s://ns/echo:grpc.
func service(registry string) (string, error) {
	rest, _, _ := strings.Cut(registry, "?")
	_, rest, _ = strings.Cut(rest, "://")
	_, svc, ok := strings.Cut(rest, "/")
	if !ok || svc == "" {
		return "", fmt.Errorf("-registry %s names no service: write k8s://namespace/service:port", registry)
	}
	return svc, nil
}

func runServer(ctx context.Context, registry, addr, meta string, drain time.Duration) error {
	svc, err := service(registry)
	if err != nil {
		return err
	}
	md, err := core.ParseMetadata(meta)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	pod := os.Getenv("POD_NAME")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", pod)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := discovery.Open(registry)
	if err != nil {
		return err
	}
	defer c.Close()
	// Kubernetes knows the pod's address; ours only names the instance.
	self := core.Instance{Service: svc, Addr: "tcp@" + ln.Addr().String(), Meta: md}
	if err := c.Register(ctx, self); err != nil {
		return err
	}
	fmt.Printf("registered %s on pod %s with %s\n", svc, pod, md.Encode())
	<-ctx.Done()
	// Drain: inactive first, while the pod is still an endpoint; then exit.
	if err := c.Registrar.Close(); err != nil {
		return err
	}
	fmt.Printf("marked inactive; exiting in %v\n", drain)
	time.Sleep(drain)
	return nil
}

func runWatch(ctx context.Context, registry string, n int, all bool) error {
	svc, err := service(registry)
	if err != nil {
		return err
	}
	c, err := discovery.Open(registry)
	if err != nil {
		return err
	}
	defer c.Close()
	var opts []core.WatchOption
	if all {
		opts = append(opts, core.IncludeInactive())
	}
	ch, err := c.Watch(ctx, svc, opts...)
	if err != nil {
		return err
	}
	for i := 0; n == 0 || i < n; i++ {
		select {
		case list, ok := <-ch:
			if !ok {
				return nil
			}
			fmt.Printf("%s: %d instance(s)\n", svc, len(list))
			for _, in := range list {
				fmt.Printf("  %s %s\n", in.Addr, sortedMeta(in.Meta))
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

func sortedMeta(m core.Metadata) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + m[k])
	}
	return b.String()
}
