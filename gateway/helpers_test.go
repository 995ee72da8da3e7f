package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smallnest/rpcx/server"
	"github.com/smallnest/rpcx/share"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/rpcxplugin"
)

// Args, Reply and Arith are rpcx's example service, answering with the
// address of the server that did the work.
type Args struct{ A, B int }

type Reply struct {
	C      int
	Server string
	Meta   map[string]string `json:",omitempty"`
}

type Arith struct{ addr string }

func (t *Arith) Mul(_ context.Context, args *Args, reply *Reply) error {
	reply.C, reply.Server = args.A*args.B, t.addr
	return nil
}

// Div fails with a business error on a zero divisor.
func (t *Arith) Div(_ context.Context, args *Args, reply *Reply) error {
	if args.B == 0 {
		return errors.New("divide by zero")
	}
	reply.C, reply.Server = args.A/args.B, t.addr
	return nil
}

// Meta answers with the request metadata the gateway forwarded.
func (t *Arith) Meta(ctx context.Context, _ *Args, reply *Reply) error {
	reply.Server = t.addr
	if m, ok := ctx.Value(share.ReqMetaDataKey).(map[string]string); ok {
		reply.Meta = map[string]string{}
		for k, v := range m {
			reply.Meta[k] = v
		}
	}
	return nil
}

// Sleep answers after args.A milliseconds, or when the call is cancelled.
func (t *Arith) Sleep(ctx context.Context, args *Args, reply *Reply) error {
	select {
	case <-time.After(time.Duration(args.A) * time.Millisecond):
	case <-ctx.Done():
	}
	reply.Server = t.addr
	return nil
}

var seq atomic.Int64

// newRegistry returns a fresh in-process registry URL.
func newRegistry() string { return fmt.Sprintf("inprocess://gateway-%d", seq.Add(1)) }

func open(t testing.TB, url string) *discovery.Client {
	t.Helper()
	c, err := discovery.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rpcxServer is a real rpcx server on 127.0.0.1 serving Arith, registered
// through its own registry client, as a separate process would be.
type rpcxServer struct {
	addr string // tcp@host:port
	srv  *server.Server
	reg  *discovery.Client
	plug *rpcxplugin.ServerPlugin
}

func startRPCX(t testing.TB, url, meta string) *rpcxServer {
	t.Helper()
	reg := open(t, url)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewServer()
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
	rs := &rpcxServer{addr: addr, srv: s, reg: reg, plug: plug}
	t.Cleanup(rs.stop)
	return rs
}

// stop shuts the server down, which deregisters it; safe to call twice.
func (s *rpcxServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	s.plug.Close()
}

// newGateway serves a Gateway over client on an httptest server.
func newGateway(t testing.TB, cfg gateway.Config) (*gateway.Gateway, *httptest.Server) {
	t.Helper()
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gw)
	t.Cleanup(func() {
		hs.Close()
		gw.Close()
	})
	return gw, hs
}

// answer is an HTTP response read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

func post(t testing.TB, url, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}

// waitOK polls until a call answers 200 (servers register once they
// listen), and returns that answer.
func waitOK(t testing.TB, url, body string, header ...string) answer {
	t.Helper()
	var a answer
	coretest.Poll(t, 20*time.Second, "a 200 from "+url, func() error {
		a = post(t, url, body, header...)
		if a.status != http.StatusOK {
			return fmt.Errorf("status %d: %s", a.status, a.body)
		}
		return nil
	})
	return a
}

// register writes a record directly, for instances that are not rpcx
// servers (an address where nothing listens, a drained instance).
func register(t testing.TB, c *discovery.Client, service, addr string, meta core.Metadata) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Register(ctx, core.Instance{Service: service, Addr: addr, Meta: meta}); err != nil {
		t.Fatal(err)
	}
}
