//go:build consul

// Command client is rpcx's Consul registry example client (rpcx-examples,
// registry/consul/client) on this framework: an rpcx XClient of Arith whose
// servers come from Consul through rpcxplugin.Discovery (an rpcx
// client.ServiceDiscovery), kept current by one blocking-query watch.
//
//	go run -tags consul ./examples/consul/client -consulAddr localhost:8500 -base /rpcx_test
//	go run -tags consul ./examples/consul/client -mode catalog
//
// With -mode kv it reads rpcx's KV layout, so it finds stock rpcx servers
// (rpcx-consul) as well as ./examples/consul/server; with -mode catalog it
// reads the passing instances of the agent service Arith. It calls
// Arith.Mul once a second until interrupted (or -n answers). The client is
// the examples' shared one (examples/internal/arith).
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

	"github.com/seedforge/discovery/examples/internal/arith"
)

var (
	consulAddr = flag.String("consulAddr", "localhost:8500", "consul agent address")
	basePath   = flag.String("base", "/rpcx_test", "prefix path (mode kv)")
	mode       = flag.String("mode", "kv", "kv: rpcx's KV layout; catalog: agent services")
	calls      = flag.Int("n", 0, "stop after this many answers; 0 calls until interrupted")
)

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, registryURL(*consulAddr, *basePath, *mode), *calls, time.Second, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// registryURL turns the rpcx example's flags into a registry URL.
func registryURL(consulAddr, base, mode string) string {
	if mode == "kv" {
		return "consul://" + consulAddr + "/" + strings.Trim(base, "/") + "?mode=kv"
	}
	return "consul://" + consulAddr + "?mode=" + mode
}

// run calls Arith.Mul every interval until it got n answers (0: until ctx
// ends), and prints each answer and the server that computed it.
func run(ctx context.Context, url string, n int, interval time.Duration, out io.Writer) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := arith.Dial(wctx, url, client.Failtry, client.RoundRobin)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 1; n == 0 || i <= n; {
		reply, err := c.Mul(ctx, 10, i)
		if err != nil {
			fmt.Fprintf(out, "failed to call: %v (servers known: %d)\n", err, len(c.Discovery.GetServices()))
		} else {
			fmt.Fprintf(out, "10 * %d = %d (served by %s)\n", i, reply.C, reply.Server)
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
