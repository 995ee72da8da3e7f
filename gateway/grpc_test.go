package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/grpcdiscovery"
	"github.com/seedforge/discovery/internal/leaktest"
)

// grpcServer is a real gRPC server on 127.0.0.1 serving the health service,
// with server reflection when asked, registered through grpcdiscovery under
// each of names. It records the metadata of the last unary call.
type grpcServer struct {
	health *health.Server
	addr   string // host:port
	mu     sync.Mutex
	md     metadata.MD
}

func startGRPC(t testing.TB, url string, withReflection bool, names ...string) *grpcServer {
	t.Helper()
	gs := &grpcServer{health: health.NewServer()}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		gs.mu.Lock()
		gs.md = md
		gs.mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, gs.health)
	if withReflection {
		reflection.Register(srv)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs.addr = lis.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	reg := open(t, url)
	for _, name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := grpcdiscovery.Register(ctx, reg, name, lis, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return gs
}

func (gs *grpcServer) lastMD(key string) string {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if v := gs.md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func TestGRPCThroughReflection(t *testing.T) {
	leaktest.Check(t)
	url := newRegistry()
	gs := startGRPC(t, url, true, "grpc.health.v1.Health", "Health")
	startGRPC(t, url, false, "Blind")
	startRPCX(t, url, "") // both protocols behind one gateway
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url)})

	a := waitOK(t, hs.URL+"/grpc.health.v1.Health/Check", `{}`, "X-Request-Id", "req-7")
	var st struct{ Status string }
	if err := json.Unmarshal([]byte(a.body), &st); err != nil || st.Status != "SERVING" {
		t.Fatalf("Check = %s (%v)", a.body, err)
	}
	if got := gs.lastMD("x-request-id"); got != "req-7" {
		t.Fatalf("x-request-id at the gRPC server = %q", got)
	}
	// A registry name that is the last part of the gRPC name works too.
	gs.health.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	a = post(t, hs.URL+"/rpc", `{"service":"Health","method":"Check","request":{"service":"db"}}`)
	if a.status != 200 || !strings.Contains(a.body, "NOT_SERVING") {
		t.Fatalf("POST /rpc Health.Check = %d %s", a.status, a.body)
	}
	if a := waitOK(t, hs.URL+"/Arith/Mul", `{"A":2,"B":3}`); decode(t, a).C != 6 {
		t.Fatalf("rpcx beside gRPC = %s", a.body)
	}

	for _, c := range []struct {
		name, path, body string
		status           int
		text             string
	}{
		{"business error", "/Health/Check", `{"service":"nope"}`, 422, "NotFound"},
		{"unknown method", "/Health/Nope", `{}`, 404, "no method"},
		{"unknown field", "/Health/Check", `{"bogus":1}`, 400, "HealthCheckRequest"},
		{"streaming method", "/Health/Watch", `{}`, 400, "streaming"},
		{"no reflection", "/Blind/Check", `{}`, 502, "reflection.Register"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := post(t, hs.URL+c.path, c.body)
			if a.status != c.status || !strings.Contains(a.body, c.text) {
				t.Fatalf("%s = %d %s, want %d with %q", c.path, a.status, a.body, c.status, c.text)
			}
		})
	}
}

// grpcdiscovery.Register says in the record that the instance speaks gRPC.
func TestGRPCRecordsSayProtocol(t *testing.T) {
	url := newRegistry()
	startGRPC(t, url, true, "grpc.health.v1.Health")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := open(t, url).Instances(ctx, "grpc.health.v1.Health")
	if err != nil || len(list) != 1 || list[0].Meta[core.MetaProtocol] != core.ProtocolGRPC {
		t.Fatalf("record = %v, %v; want %s=%s", list, err, core.MetaProtocol, core.ProtocolGRPC)
	}
}
