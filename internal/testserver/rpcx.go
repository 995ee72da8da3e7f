package testserver

import (
	"context"
	"errors"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/rpcxplugin"
)

// Args, Reply and Arith are rpcx's example service, answering with the
// address of the server that did the work.
type Args struct{ A, B int }

// Reply is the result, who computed it, and for Meta the request metadata.
type Reply struct {
	C      int
	Server string
	Meta   map[string]string `json:",omitempty"`
}

// Arith serves Mul, Div (a business error on a zero divisor), Meta (echoes
// the request metadata) and Sleep (answers after A milliseconds).
type Arith struct{ addr string }

func (t *Arith) Mul(_ context.Context, args *Args, reply *Reply) error {
	reply.C, reply.Server = args.A*args.B, t.addr
	return nil
}

func (t *Arith) Div(_ context.Context, args *Args, reply *Reply) error {
	if args.B == 0 {
		return errors.New("divide by zero")
	}
	reply.C, reply.Server = args.A/args.B, t.addr
	return nil
}

func (t *Arith) Meta(ctx context.Context, _ *Args, reply *Reply) error {
	reply.Server = t.addr
	if m, ok := ctx.Value(share.ReqMetaDataKey).(map[string]string); ok {
		reply.Meta = maps.Clone(m)
	}
	return nil
}

func (t *Arith) Sleep(ctx context.Context, args *Args, reply *Reply) error {
	select {
	case <-time.After(time.Duration(args.A) * time.Millisecond):
	case <-ctx.Done():
	}
	reply.Server = t.addr
	return nil
}

// RPCX is a real rpcx server on 127.0.0.1 serving Arith, registered through
// its own registry client as a separate process would be.
type RPCX struct {
	Addr string // tcp@host:port
	srv  *server.Server
	reg  *discovery.Client
	plug *rpcxplugin.ServerPlugin
}

// StartRPCX starts an Arith server registered (once it listens) in the
// registry at url with rpcx metadata meta; it stops when the test ends.
func StartRPCX(t testing.TB, url, meta string) *RPCX {
	t.Helper()
	reg, err := discovery.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		reg.Close()
		t.Fatal(err)
	}
	s := server.NewServer()
	// rpcx's own protocol only. rpcx v1.9.3's Shutdown reads the JSON-RPC
	// listener's server without the lock its goroutine sets it under: a
	// server stopped soon after it started is a data race under -race.
	s.DisableJSONRPC, s.DisableHTTPGateway = true, true
	plug, err := rpcxplugin.NewServerPlugin(s, reg)
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp@" + ln.Addr().String()
	if err := s.RegisterName("Arith", &Arith{addr: addr}, meta); err != nil {
		t.Fatal(err)
	}
	go s.ServeListener("tcp", ln)
	<-s.Started
	r := &RPCX{Addr: addr, srv: s, reg: reg, plug: plug}
	t.Cleanup(r.Stop)
	return r
}

// Stop shuts the server down, which deregisters it; safe to call twice.
func (r *RPCX) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.srv.Shutdown(ctx)
	r.plug.Close()
	r.reg.Close()
}

// Open opens a client of the registry at url, closed when the test ends.
func Open(t testing.TB, url string) *discovery.Client {
	t.Helper()
	c, err := discovery.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
