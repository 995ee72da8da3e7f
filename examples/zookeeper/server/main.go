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
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/seedforge/discovery/examples/internal/arith"
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
	if err := arith.Serve(ctx, *addr, registryURL(*zkAddr, *basePath), *meta, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// registryURL turns the rpcx example's flags into a registry URL.
func registryURL(zkAddr, base string) string {
	return "zk://" + zkAddr + "/" + strings.Trim(base, "/")
}
