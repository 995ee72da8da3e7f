// Command services is the back end of the gateway example: an rpcx Arith
// server and a gRPC server (the standard health service, with server
// reflection so that the gateway can convert JSON), both registered in the
// registry, e.g. through a Consul client agent.
//
//	go run -tags consul ./examples/gateway/services -registry 'consul://127.0.0.1:8500?mode=catalog' \
//	    -rpcx 127.0.0.1:8972 -grpc 127.0.0.1:50051
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	rpcxlog "github.com/smallnest/rpcx/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/grpcdiscovery"
)

func main() {
	registry := flag.String("registry", "", "registry URL to register in, e.g. consul://127.0.0.1:8500?mode=catalog")
	rpcxAddr := flag.String("rpcx", "127.0.0.1:8972", "address of the rpcx Arith server")
	grpcAddr := flag.String("grpc", "127.0.0.1:50051", "address of the gRPC health server")
	flag.Parse()
	if *registry == "" {
		fmt.Fprintln(os.Stderr, "services: -registry URL is required")
		os.Exit(2)
	}
	rpcxlog.SetDummyLogger()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *registry, *rpcxAddr, *grpcAddr); err != nil {
		fmt.Fprintln(os.Stderr, "services:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, registry, rpcxAddr, grpcAddr string) error {
	a, err := arith.Start(registry, rpcxAddr, "")
	if err != nil {
		return fmt.Errorf("rpcx Arith: %w", err)
	}
	fmt.Printf("rpcx Arith on %s\n", a.Addr)

	reg, err := discovery.Open(registry)
	if err != nil {
		return err
	}
	defer reg.Close()
	lis, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpcdiscovery.ServerOptions(reg)...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	deregister, err := grpcdiscovery.Register(rctx, reg, "grpc.health.v1.Health", lis, core.Metadata{})
	cancel()
	if err != nil {
		srv.Stop()
		return err
	}
	fmt.Printf("gRPC grpc.health.v1.Health on %s\n", lis.Addr())

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	err = errors.Join(err, deregister(sctx), a.Stop(sctx))
	srv.GracefulStop()
	fmt.Println("stopped and deregistered")
	return err
}
