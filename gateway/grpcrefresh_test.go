package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/grpcdiscovery"
)

// startDemo serves demo.Echo with the given methods (each takes and returns
// google.protobuf.Empty), publishing a descriptor of exactly those methods
// through reflection, registered through grpcdiscovery until stop.
func startDemo(t *testing.T, url string, methods ...string) (stop func()) {
	t.Helper()
	fd := &descriptorpb.FileDescriptorProto{
		Name: proto.String("demo.proto"), Package: proto.String("demo"), Syntax: proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto"},
		Service:    []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("Echo")}},
	}
	desc := grpc.ServiceDesc{ServiceName: "demo.Echo", HandlerType: (*any)(nil)}
	for _, m := range methods {
		fd.Service[0].Method = append(fd.Service[0].Method, &descriptorpb.MethodDescriptorProto{
			Name: proto.String(m), InputType: proto.String(".google.protobuf.Empty"), OutputType: proto.String(".google.protobuf.Empty")})
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: m,
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return &emptypb.Empty{}, dec(new(emptypb.Empty))
			}})
	}
	file, err := protodesc.NewFile(fd, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	files.RegisterFile(emptypb.File_google_protobuf_empty_proto)
	files.RegisterFile(file)

	srv := grpc.NewServer()
	srv.RegisterService(&desc, struct{}{})
	rpb.RegisterServerReflectionServer(srv, reflection.NewServerV1(reflection.ServerOptions{Services: srv, DescriptorResolver: files}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deregister, err := grpcdiscovery.Register(ctx, open(t, url), "demo.Echo", lis, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop = func() {
		deregister(context.Background())
		srv.Stop()
		<-served
	}
	t.Cleanup(stop)
	return stop
}

// A new version of a service, on new instances, is seen: descriptors are
// read again when the instances change.
func TestGRPCDescriptorsRefreshWithInstances(t *testing.T) {
	url := newRegistry()
	stopV1 := startDemo(t, url, "Ping")
	client := open(t, url)
	_, hs := newGateway(t, gateway.Config{Discovery: client})
	waitOK(t, hs.URL+"/demo.Echo/Ping", `{}`)
	if a := post(t, hs.URL+"/demo.Echo/Pong", `{}`); a.status != http.StatusNotFound || !strings.Contains(a.body, "no method") {
		t.Fatalf("Pong on v1 = %d %s", a.status, a.body)
	}

	startDemo(t, url, "Ping", "Pong") // v2 joins, v1 leaves
	stopV1()
	coretest.Poll(t, 20*time.Second, "only v2 listed", func() error {
		list, err := client.Instances(context.Background(), "demo.Echo")
		if err != nil || len(list) != 1 || list[0].Meta[core.MetaProtocol] != core.ProtocolGRPC {
			return fmt.Errorf("instances %v (%v)", list, err)
		}
		return nil
	})
	waitOK(t, hs.URL+"/demo.Echo/Pong", `{}`)
}
