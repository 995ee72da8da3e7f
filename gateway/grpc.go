package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/selector"
)

// callGRPC converts c's JSON to the method's request message, invokes it on
// inst and converts the reply to JSON. The descriptors come from the
// server's reflection service, cached per route until its instances change.
func (g *Gateway) callGRPC(ctx context.Context, rt *route, inst core.Instance, c *call) (*reply, error) {
	if c.serializeType != serializeJSON {
		return nil, selector.Business(&statusError{http.StatusBadRequest, "gRPC services take JSON (" + rpcxSerializeType + ": 1)", nil})
	}
	conn, err := g.grpc.get(inst)
	if err != nil {
		return nil, &notSentError{err}
	}
	svc, err := rt.grpcService(ctx, conn)
	if err != nil {
		return nil, err
	}
	md := svc.Methods().ByName(protoreflect.Name(c.method))
	if md == nil {
		return nil, selector.Business(&statusError{http.StatusNotFound, fmt.Sprintf("gRPC service %s has no method %s", svc.FullName(), quote(c.method)), nil})
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return nil, selector.Business(&statusError{http.StatusBadRequest, fmt.Sprintf("%s.%s is a streaming method; the gateway calls unary methods", svc.FullName(), c.method), nil})
	}
	in := dynamicpb.NewMessage(md.Input())
	if err := protojson.Unmarshal(c.body, in); err != nil {
		return nil, selector.Business(&statusError{http.StatusBadRequest, "request does not fit " + string(md.Input().FullName()) + ": " + err.Error(), nil})
	}
	out := dynamicpb.NewMessage(md.Output())
	if len(c.meta) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, metadata.New(c.meta))
	}
	if err := conn.Invoke(ctx, "/"+string(svc.FullName())+"/"+c.method, in, out); err != nil {
		return nil, grpcError(err)
	}
	body, err := protojson.Marshal(out)
	if err != nil {
		return nil, selector.Business(&statusError{http.StatusBadGateway, "reply does not convert to JSON: " + err.Error(), nil})
	}
	return &reply{body: body}, nil
}

// grpcError sorts a gRPC status: codes that mean the server answered are
// business errors (not retried); Unavailable and the like are failures of
// the instance.
func grpcError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unimplemented:
		return selector.Business(&statusError{http.StatusNotFound, st.Message(), nil})
	case codes.Unavailable: // no connection: the call did not reach a server
		return &notSentError{err}
	case codes.Canceled, codes.DeadlineExceeded, codes.ResourceExhausted:
		return err
	}
	return selector.Business(&businessError{st.Code().String() + ": " + st.Message()})
}

// grpcService returns the descriptor of rt's service, asking conn's
// reflection service when the cache is empty.
func (r *route) grpcService(ctx context.Context, conn *grpc.ClientConn) (protoreflect.ServiceDescriptor, error) {
	r.mu.Lock()
	sd := r.grpcDesc
	r.mu.Unlock()
	if sd != nil {
		return sd, nil
	}
	sd, err := reflectService(ctx, conn, r.name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.grpcDesc = sd
	r.mu.Unlock()
	return sd, nil
}

// reflectService finds service (its full gRPC name, or a registry name that
// is the last part of it) through server reflection and builds its
// descriptor with every file it depends on.
func reflectService(ctx context.Context, conn *grpc.ClientConn, service string) (protoreflect.ServiceDescriptor, error) {
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("gRPC reflection: %w", err)
	}
	defer stream.CloseSend()
	ask := func(req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
		if err := stream.Send(req); err != nil {
			if errors.Is(err, io.EOF) { // the server ended the stream: Recv has its status
				_, err = stream.Recv()
			}
			return nil, err
		}
		return stream.Recv()
	}
	name := service
	res, err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, reflectionError(err)
	}
	found := false
	for _, s := range res.GetListServicesResponse().GetService() {
		if n := s.GetName(); n == service || strings.HasSuffix(n, "."+service) {
			name, found = n, true
			break
		}
	}
	if !found {
		return nil, selector.Business(&statusError{http.StatusNotFound, "the gRPC server of " + quote(service) + " does not list that service in its reflection", nil})
	}
	res, err = ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: name}})
	if err != nil {
		return nil, reflectionError(err)
	}
	if e := res.GetErrorResponse(); e != nil {
		return nil, selector.Business(&statusError{http.StatusBadGateway, "gRPC reflection of " + name + ": " + e.GetErrorMessage(), nil})
	}
	set := &descriptorpb.FileDescriptorSet{}
	have := map[string]bool{}
	add := func(raw [][]byte) error {
		for _, b := range raw {
			fd := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(b, fd); err != nil {
				return err
			}
			if !have[fd.GetName()] {
				have[fd.GetName()] = true
				set.File = append(set.File, fd)
			}
		}
		return nil
	}
	if err := add(res.GetFileDescriptorResponse().GetFileDescriptorProto()); err != nil {
		return nil, selector.Business(&statusError{http.StatusBadGateway, "gRPC reflection sent a bad descriptor: " + err.Error(), nil})
	}
	// The server sends the file and the dependencies it has not sent on this
	// stream; ask for any that are still missing.
	for i := 0; i < len(set.File); i++ {
		for _, dep := range set.File[i].GetDependency() {
			if have[dep] {
				continue
			}
			res, err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: dep}})
			if err != nil {
				return nil, reflectionError(err)
			}
			if err := add(res.GetFileDescriptorResponse().GetFileDescriptorProto()); err != nil || !have[dep] {
				return nil, selector.Business(&statusError{http.StatusBadGateway, "gRPC reflection did not send " + dep, err})
			}
		}
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, selector.Business(&statusError{http.StatusBadGateway, "gRPC reflection descriptors do not link: " + err.Error(), nil})
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, selector.Business(&statusError{http.StatusBadGateway, "gRPC reflection: " + err.Error(), nil})
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, selector.Business(&statusError{http.StatusNotFound, name + " is not a gRPC service", nil})
	}
	return sd, nil
}

// reflectionError: a server without reflection cannot be called through the
// gateway, which is a fact of its configuration, not a failure to retry.
func reflectionError(err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented {
		return selector.Business(&statusError{http.StatusBadGateway,
			"the gRPC server does not serve reflection: register it with reflection.Register(server)", err})
	}
	return err
}

// grpcPool holds one gRPC connection per server address.
type grpcPool struct {
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newGRPCPool() *grpcPool { return &grpcPool{conns: map[string]*grpc.ClientConn{}} }

func (p *grpcPool) get(inst core.Instance) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	if c, ok := p.conns[inst.Addr]; ok {
		return c, nil
	}
	// NewClient does not dial: connecting happens in the first call.
	c, err := grpc.NewClient("passthrough:///"+inst.HostPort(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	p.conns[inst.Addr] = c
	return c, nil
}

func (p *grpcPool) forget(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		delete(p.conns, addr)
		c.Close()
	}
}

func (p *grpcPool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for addr, c := range p.conns {
		errs = append(errs, c.Close())
		delete(p.conns, addr)
	}
	return errors.Join(errs...)
}
