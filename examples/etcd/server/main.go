//go:build etcd

// Command server is rpcx's etcd registry example on this framework: an rpcx
// server whose Arith service is registered in etcd, under the same keys as
// rpcx's own etcd v3 plugin writes ({base}/Arith/tcp@{addr}), so stock rpcx
// clients find it too. It refreshes its registration every -update and
// deregisters on Ctrl-C.
//
//	go run -tags etcd ./examples/etcd/server -etcd 127.0.0.1:2379 -base /rpcx_test -addr 127.0.0.1:8972
//	go run -tags etcd ./examples/etcd/client -etcd 127.0.0.1:2379 -base /rpcx_test
//
// -etcd takes a comma-separated list of members (h1:2379,h2:2379).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	rpcxlog "github.com/smallnest/rpcx/log"

	"github.com/seedforge/discovery/examples/internal/arith"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8972", "server address")
	etcdAddr := flag.String("etcd", "127.0.0.1:2379", "etcd address(es), comma-separated")
	base := flag.String("base", "/rpcx_test", "base path of the keys, as rpcx's BasePath")
	update := flag.Duration("update", 10*time.Second, "update interval: the registration is refreshed this often and expires 3 intervals after the last refresh")
	meta := flag.String("meta", "", "metadata of the Arith service, e.g. weight=2&group=blue")
	flag.Parse()
	if err := run(*addr, *etcdAddr, *base, *update, *meta); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(addr, etcdAddr, base string, update time.Duration, meta string) error {
	rpcxlog.SetDummyLogger()
	// etcd://h1:2379,h2:2379/rpcx_test?interval=10s&ttl=30s
	registry := fmt.Sprintf("etcd://%s%s?%s", etcdAddr, base, url.Values{
		"interval": {update.String()},
		"ttl":      {(3 * update).String()},
	}.Encode())
	// The plugin behind arith.Serve registers Arith once the server listens,
	// feeds the server's calls into the published tps, and deregisters on
	// shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return arith.Serve(ctx, addr, registry, meta, os.Stdout)
}
