//go:build zookeeper

// Command server is rpcx's ZooKeeper registry example server
// (rpcx-examples, registry/zookeeper/server) on this framework: an rpcx
// Arith server registered in ZooKeeper under {base}/Arith/tcp@{addr}, the
// layout rpcx's own ZooKeeperRegisterPlugin writes, so stock rpcx clients
// find it as well as this framework's.
//
//	go run -tags zookeeper ./examples/zookeeper/server -addr localhost:8972 -zkAddr localhost:2181 -base /rpcx_test
//
// It serves until interrupted (Ctrl-C), then deregisters and exits.
// Registration goes through rpcxplugin.ServerPlugin, which registers once the
// server listens and publishes its load (tps) with every refresh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/server"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/rpcxplugin"
)

var (
	addr     = flag.String("addr", "localhost:8972", "server address")
	zkAddr   = flag.String("zkAddr", "localhost:2181", "zookeeper address (host:port, or several joined by commas)")
	basePath = flag.String("base", "/rpcx_test", "prefix path")
	meta     = flag.String("meta", "", "metadata to register, as a URL query, e.g. weight=2&group=blue")
)

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, registryURL(*zkAddr, *basePath), *meta, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// registryURL turns the rpcx example's flags into a registry URL.
func registryURL(zkAddr, base string) string {
	return "zk://" + zkAddr + "/" + strings.Trim(base, "/")
}

// run serves Arith on addr, registered in the registry at url, until ctx
// ends; then it shuts the server down, which deregisters it.
func run(ctx context.Context, addr, url, meta string, out io.Writer) error {
	reg, err := discovery.Open(url)
	if err != nil {
		return err
	}
	defer reg.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := server.NewServer()
	plugin, err := rpcxplugin.NewServerPlugin(s, reg)
	if err != nil {
		ln.Close()
		return err
	}
	defer plugin.Close()
	advertised := "tcp@" + ln.Addr().String()
	if err := s.RegisterName("Arith", &arith.Arith{Addr: advertised}, meta); err != nil {
		ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeListener("tcp", ln) }()
	fmt.Fprintf(out, "serving Arith on %s, registered in %s\n", advertised, core.Redact(url))

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, server.ErrServerClosed) && err == nil {
		err = serr
	}
	fmt.Fprintln(out, "stopped and deregistered")
	return err
}
