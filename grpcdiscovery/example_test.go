package grpcdiscovery_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/grpcdiscovery"
)

// A server registers its listener; a stock gRPC client dials the service by
// name and is balanced by one of the package's policies.
func Example() {
	ctx := context.Background()

	// Server side.
	reg, _ := discovery.Open("inprocess://example")
	defer reg.Close()
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := grpc.NewServer(grpcdiscovery.ServerOptions(reg)...)
	srv.RegisterService(&echoDesc, &echoServer{addr: lis.Addr().String()})
	deregister, err := grpcdiscovery.Register(ctx, reg, "Echo", lis, map[string]string{"weight": "2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(lis)
	defer srv.GracefulStop()
	defer deregister(ctx) // deregister first, then stop

	// Client side.
	cli, _ := discovery.Open("inprocess://example")
	defer cli.Close()
	conn, _ := grpc.NewClient("discovery:///Echo",
		grpc.WithResolvers(grpcdiscovery.NewBuilder(cli)),
		grpcdiscovery.WithBalancer(grpcdiscovery.P2C),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()

	out := new(wrapperspb.StringValue)
	err = conn.Invoke(ctx, "/Echo/Echo", wrapperspb.String("hi"), out)
	fmt.Println(err == nil && out.GetValue() == lis.Addr().String(), reg.Meter().Calls())
	// Output: true 1
}
