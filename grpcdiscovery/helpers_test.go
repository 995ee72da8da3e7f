package grpcdiscovery_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/protobuf/types/known/wrapperspb"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/grpcdiscovery"
	"github.com/seedforge/discovery/internal/leaktest"
)

// Echo is a one-method gRPC service written by hand (no protoc): requests
// and replies are protobuf's StringValue, and the reply is the address of
// the server that answered, so tests see where each call went.
const (
	echoService = "Echo"
	echoMethod  = "/Echo/Echo"
	echoStream  = "/Echo/Stream"
)

type echoServer struct {
	addr  string
	delay time.Duration
	calls atomic.Int64
}

type echoHandler interface {
	echo(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

func (e *echoServer) echo(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	e.calls.Add(1)
	if e.delay > 0 {
		t := time.NewTimer(e.delay)
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
	ServiceName: echoService,
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
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			for {
				in := new(wrapperspb.StringValue)
				if err := stream.RecvMsg(in); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
				if err := stream.SendMsg(wrapperspb.String(srv.(*echoServer).addr)); err != nil {
					return err
				}
			}
		},
	}},
}

var seq atomic.Int64

// newRegistry returns a fresh in-process registry URL and its store name.
func newRegistry(query string) (url, name string) {
	name = fmt.Sprintf("grpcdiscovery-%d", seq.Add(1))
	url = "inprocess://" + name
	if query != "" {
		url += "?" + query
	}
	return url, name
}

func open(t *testing.T, url string) *discovery.Client {
	t.Helper()
	c, err := discovery.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testServer is a real gRPC server on 127.0.0.1, registered with its own
// registry client (hence its own load meter), as a separate process would.
type testServer struct {
	echo       *echoServer
	srv        *grpc.Server
	reg        *discovery.Client
	addr       string // host:port
	deregister func(context.Context) error
	served     chan struct{}
	accepted   atomic.Int64
}

type serverConfig struct {
	meta    core.Metadata
	delay   time.Duration
	noMeter bool // leave the load meter alone, so metadata tps is the registered one
}

func startServer(t *testing.T, url string, cfg serverConfig) *testServer {
	t.Helper()
	reg := open(t, url)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{reg: reg, addr: ln.Addr().String(), served: make(chan struct{})}
	var opts []grpc.ServerOption
	if !cfg.noMeter {
		opts = grpcdiscovery.ServerOptions(reg)
	}
	s.srv = grpc.NewServer(opts...)
	s.echo = &echoServer{addr: s.addr, delay: cfg.delay}
	s.srv.RegisterService(&echoDesc, s.echo)
	lis := &countingListener{Listener: ln, n: &s.accepted}
	s.deregister, err = grpcdiscovery.Register(context.Background(), reg, echoService, lis, cfg.meta)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(s.served)
		s.srv.Serve(lis)
	}()
	t.Cleanup(func() {
		s.srv.Stop()
		<-s.served
	})
	return s
}

// countingListener counts accepted connections, to tell reconnections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func dial(t *testing.T, d core.Discovery, target, policy string, extra ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{
		grpc.WithResolvers(grpcdiscovery.NewBuilder(d)),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}
	if policy != "" {
		opts = append(opts, grpcdiscovery.WithBalancer(policy))
	}
	conn, err := grpc.NewClient(target, append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func call(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	err := conn.Invoke(ctx, echoMethod, wrapperspb.String("hi"), out)
	return out.GetValue(), err
}

// spread makes n sequential calls and counts the answers per server.
func spread(t *testing.T, ctx context.Context, conn *grpc.ClientConn, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		who, err := call(ctx, conn)
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		counts[who]++
	}
	return counts
}

// warmUp calls until every server has answered, so that all SubConns are
// ready and the picker holds them all (readiness only grows in these tests).
func warmUp(t *testing.T, conn *grpc.ClientConn, servers ...*testServer) {
	t.Helper()
	seen := map[string]bool{}
	poll(t, "every server answering", func() bool {
		who, err := call(context.Background(), conn)
		if err == nil {
			seen[who] = true
		}
		for _, s := range servers {
			if !seen[s.addr] {
				return false
			}
		}
		return true
	})
}

func poll(t *testing.T, what string, ok func() bool) {
	t.Helper()
	coretest.PollUntil(t, 15*time.Second, what, ok)
}

// waitState waits, with a deadline, until conn reports want.
func waitState(t *testing.T, conn *grpc.ClientConn, want connectivity.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for s := conn.GetState(); s != want; s = conn.GetState() {
		if !conn.WaitForStateChange(ctx, s) {
			t.Fatalf("channel stayed %v, want %v", s, want)
		}
	}
}

func leakCheck(t *testing.T) { leaktest.Check(t) }

// recorder is a real gRPC policy (round_robin underneath) that also keeps
// every resolver state it is given, so tests can see exactly what the
// resolver pushed.
const recorderPolicy = "grpcdiscovery_test_recorder"

func init() { balancer.Register(recorderBuilder{}) }

var recorded struct {
	sync.Mutex
	states []resolver.State
}

func recordedStates() []resolver.State {
	recorded.Lock()
	defer recorded.Unlock()
	return append([]resolver.State(nil), recorded.states...)
}

func resetRecorder() {
	recorded.Lock()
	recorded.states = nil
	recorded.Unlock()
}

type recorderBuilder struct{}

func (recorderBuilder) Name() string { return recorderPolicy }

func (recorderBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return &recorderBalancer{Balancer: balancer.Get("round_robin").Build(cc, opts)}
}

type recorderBalancer struct{ balancer.Balancer }

func (b *recorderBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	recorded.Lock()
	recorded.states = append(recorded.states, s.ResolverState)
	recorded.Unlock()
	return b.Balancer.UpdateClientConnState(s)
}

// lastAddrs returns the host:port list of the last recorded state.
func lastAddrs() []string {
	st := recordedStates()
	if len(st) == 0 {
		return nil
	}
	var out []string
	for _, a := range st[len(st)-1].Addresses {
		out = append(out, a.Addr)
	}
	return out
}

func joined(s []string) string { return strings.Join(s, ",") }
