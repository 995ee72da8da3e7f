// Command arithserver is the Arith server of the p2p and multi examples: a
// plain rpcx server on a fixed address. With -registry it also registers
// itself, so the same binary works with any backend by configuration.
//
//	go run ./examples/arithserver -addr 127.0.0.1:8972
//	go run ./examples/arithserver -addr 127.0.0.1:8973 -registry 'inprocess://demo'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	rpcxlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/rpcxplugin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8972", "address to listen on")
	registry := flag.String("registry", "", "registry URL to register in (empty: none, as p2p and multi need)")
	meta := flag.String("meta", "", "metadata of the Arith service, e.g. weight=2")
	flag.Parse()
	if err := run(*addr, *registry, *meta); err != nil {
		fmt.Fprintln(os.Stderr, "arithserver:", err)
		os.Exit(1)
	}
}

func run(addr, registry, meta string) error {
	rpcxlog.SetDummyLogger()
	s := server.NewServer()
	advertised := "tcp@" + addr
	if registry != "" {
		reg, err := discovery.Open(registry)
		if err != nil {
			return err
		}
		defer reg.Close()
		p, err := rpcxplugin.NewServerPlugin(s, reg)
		if err != nil {
			return err
		}
		defer p.Close()
	}
	if err := s.RegisterName("Arith", &arith.Arith{Addr: advertised}, meta); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve("tcp", addr) }()
	select {
	case <-s.Started:
		fmt.Printf("serving Arith on %s\n", advertised)
	case err := <-errc:
		return err
	}
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}
