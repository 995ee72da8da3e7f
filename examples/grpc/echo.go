package main

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Echo is a one-method gRPC service written by hand, so the example needs no
// protoc: requests and replies are protobuf's StringValue, and the reply is
// the address of the server that answered, so the client can show the
// spread. Generated code (protoc-gen-go-grpc) works the same way.
const echoMethod = "/Echo/Echo"

type echoServer struct {
	addr  string
	delay atomic.Int64 // nanoseconds added to every answer, to play a slow server
}

type echoHandler interface {
	echo(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

func (e *echoServer) echo(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	if d := time.Duration(e.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return wrapperspb.String(e.addr), nil
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "Echo",
	HandlerType: (*echoHandler)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return srv.(echoHandler).echo(ctx, req.(*wrapperspb.StringValue))
			}
			if interceptor == nil {
				return h(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: echoMethod}, h)
		},
	}},
}
