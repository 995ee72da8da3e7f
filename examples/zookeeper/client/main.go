//go:build zookeeper

// Command client is rpcx's ZooKeeper registry example client
// (rpcx-examples, registry/zookeeper/client) on this framework: an rpcx
// XClient of Arith whose servers come from ZooKeeper, through
// rpcxplugin.Discovery (an rpcx client.ServiceDiscovery). It finds servers
// registered by this framework and by stock rpcx servers alike, and, unlike
// rpcx's own ZooKeeper discovery, sees metadata changes such as
// state=inactive at once.
//
//	go run -tags zookeeper ./examples/zookeeper/client -zkAddr localhost:2181 -base /rpcx_test
//
// It calls Arith.Mul once a second until interrupted (or -n answers).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/client"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/rpcxplugin"
)

var (
	zkAddr   = flag.String("zkAddr", "localhost:2181", "zookeeper address (host:port, or several joined by commas)")
	basePath = flag.String("base", "/rpcx_test", "prefix path")
	calls    = flag.Int("n", 0, "stop after this many answers; 0 calls until interrupted")
)

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, registryURL(*zkAddr, *basePath), *calls, time.Second, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// registryURL turns the rpcx example's flags into a registry URL.
func registryURL(zkAddr, base string) string {
	return "zk://" + zkAddr + "/" + strings.Trim(base, "/")
}

// run calls Arith.Mul every interval until it got n answers (0: until ctx
// ends), and prints each answer and the server that computed it.
func run(ctx context.Context, url string, n int, interval time.Duration, out io.Writer) error {
	reg, err := discovery.Open(url)
	if err != nil {
		return err
	}
	defer reg.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := rpcxplugin.NewDiscovery(wctx, reg, "Arith")
	if err != nil {
		return err
	}
	defer d.Close()
	xclient := client.NewXClient("Arith", client.Failtry, client.RandomSelect, d, client.DefaultOption)
	defer xclient.Close()

	args := &arith.Args{A: 10, B: 20}
	for i := 0; n == 0 || i < n; {
		reply := &arith.Reply{}
		if err := xclient.Call(ctx, "Mul", args, reply); err != nil {
			fmt.Fprintf(out, "failed to call: %v\n", err)
		} else {
			fmt.Fprintf(out, "%d * %d = %d (served by %s)\n", args.A, args.B, reply.C, reply.Server)
			i++
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
	return nil
}
