// Package arith is the Arith service of rpcx's examples, answering with the
// address of the server that did the work so examples can show the spread.
package arith

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/smallnest/rpcx/server"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/rpcxplugin"
)

// Args are the operands.
type Args struct{ A, B int }

// Reply is the product and who computed it.
type Reply struct {
	C      int
	Server string
}

// Arith multiplies.
type Arith struct{ Addr string }

// Mul sets reply.C = A*B.
func (t *Arith) Mul(_ context.Context, args *Args, reply *Reply) error {
	reply.C = args.A * args.B
	reply.Server = t.Addr
	return nil
}

// Server is a running rpcx server registered in a registry.
type Server struct {
	RPC    *server.Server
	Plugin *rpcxplugin.ServerPlugin
	Reg    *discovery.Client
	Addr   string
}

// Start listens on addr (use 127.0.0.1:0 for any port), registers Arith with
// metadata in the registry at url, and serves in the background. It returns
// once the server listens. An empty url registers nowhere (p2p, multi).
func Start(url, addr, metadata string) (*Server, error) {
	if url == "" {
		url = "p2p://tcp@" + addr // fixed-list backend: registration stores nothing
	}
	reg, err := discovery.Open(url)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		reg.Close()
		return nil, err
	}
	s := server.NewServer()
	// The examples speak rpcx's own protocol only. rpcx v1.9.3's JSON-RPC
	// listener logs "http: Server closed" as an error at every clean
	// shutdown (it checks for cmux's error, not net/http's), and its HTTP
	// gateway logs its closing too: off, so Ctrl-C prints no false alarm.
	s.DisableJSONRPC, s.DisableHTTPGateway = true, true
	plugin, err := rpcxplugin.NewServerPlugin(s, reg)
	if err != nil {
		reg.Close()
		ln.Close()
		return nil, err
	}
	advertised := "tcp@" + ln.Addr().String()
	if err := s.RegisterName("Arith", &Arith{Addr: advertised}, metadata); err != nil {
		reg.Close()
		ln.Close()
		return nil, err
	}
	go s.ServeListener("tcp", ln)
	select {
	case <-s.Started:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("server on %s did not start", advertised)
	}
	return &Server{RPC: s, Plugin: plugin, Reg: reg, Addr: advertised}, nil
}

// WaitRegistered waits until the Arith registration is written in the
// registry, or ctx ends (the registry unreachable: the plugin keeps trying).
func (s *Server) WaitRegistered(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, st := range s.Reg.Status() {
			if st.Service == "Arith" && st.State == core.StateRegistered {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			// Stopped right after the record was written, between two looks:
			// it still counts.
			for _, st := range s.Reg.Status() {
				if st.Service == "Arith" && st.State == core.StateRegistered {
					return nil
				}
			}
			return fmt.Errorf("arith %s: %w", s.Addr, core.ErrPending)
		case <-tick.C:
		}
	}
}

// Serve runs Start, prints where it serves, and serves until ctx ends; then
// it shuts the server down, which deregisters it. It says "registered" only
// once the record is written; a registry that does not answer yet is said
// so, and the server serves on while core keeps trying. Every example
// server is this function behind its own flags.
func Serve(ctx context.Context, addr, url, metadata string, out io.Writer) error {
	s, err := Start(url, addr, metadata)
	if err != nil {
		return err
	}
	if url == "" {
		fmt.Fprintf(out, "serving Arith on %s\n", s.Addr)
	} else {
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.WaitRegistered(wait)
		cancel()
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(out, "serving Arith on %s; registration in %s pending (registry not answering), retrying\n", s.Addr, core.Redact(url))
			err = s.WaitRegistered(ctx)
		}
		if err == nil {
			fmt.Fprintf(out, "serving Arith on %s, registered in %s\n", s.Addr, core.Redact(url))
		}
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Stop(sctx)
	fmt.Fprintf(out, "stopped %s and deregistered\n", s.Addr)
	return err
}

// Stop shuts the server down (which deregisters it) and closes the registry
// connection.
func (s *Server) Stop(ctx context.Context) error {
	err := s.RPC.Shutdown(ctx)
	s.Plugin.Close()
	if cerr := s.Reg.Close(); err == nil {
		err = cerr
	}
	return err
}
