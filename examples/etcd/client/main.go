//go:build etcd

// Command client is rpcx's etcd registry example client on this framework:
// an rpcx XClient whose servers come from etcd, kept current by one watch,
// calling Arith.Mul every -interval. Start servers with
// ./examples/etcd/server (or stock rpcx servers using rpcx's etcd v3 plugin
// with the same base path): started and stopped servers show up in the
// replies within moments.
//
//	go run -tags etcd ./examples/etcd/client -etcd 127.0.0.1:2379 -base /rpcx_test
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/rpcxplugin"
)

func main() {
	etcdAddr := flag.String("etcd", "127.0.0.1:2379", "etcd address(es), comma-separated")
	base := flag.String("base", "/rpcx_test", "base path of the keys, as rpcx's BasePath")
	interval := flag.Duration("interval", time.Second, "time between calls")
	calls := flag.Int("n", 0, "number of calls (0: until Ctrl-C)")
	flag.Parse()
	if err := run(*etcdAddr, *base, *interval, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(etcdAddr, base string, interval time.Duration, calls int) error {
	rpcxlog.SetDummyLogger()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	reg, err := discovery.Open("etcd://" + etcdAddr + base)
	if err != nil {
		return err
	}
	defer reg.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	d, err := rpcxplugin.NewDiscovery(wctx, reg, "Arith")
	cancel()
	if err != nil {
		return err
	}
	defer d.Close()
	xclient := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer xclient.Close()

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for i := 1; calls == 0 || i <= calls; i++ {
		args, reply := &arith.Args{A: 10, B: i}, &arith.Reply{}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := xclient.Call(cctx, "Mul", args, reply)
		cancel()
		if err != nil {
			fmt.Printf("%d * %d: %v (servers: %d)\n", args.A, args.B, err, len(d.GetServices()))
		} else {
			fmt.Printf("%d * %d = %d (from %s)\n", args.A, args.B, reply.C, reply.Server)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
	return nil
}
